import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, strongPassword, uniqueEmail } from "./support/http-client.js";
import { sql, startTestApp, type TestApp } from "./support/test-app.js";

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

/** A minimal browser: keeps cookies, posts forms, does not run scripts. */
class Browser {
  readonly cookies = new Map<string, string>();
  constructor(readonly baseUrl: string) {}

  get cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }

  async get(path: string) {
    const res = await call(this.baseUrl, "GET", path, { cookie: this.cookieHeader });
    this.#keep(res.headers);
    return res;
  }

  async post(path: string, fields: Record<string, string>) {
    const res = await call(this.baseUrl, "POST", path, {
      body: new URLSearchParams(fields).toString(),
      headers: { "content-type": "application/x-www-form-urlencoded" },
      cookie: this.cookieHeader,
    });
    this.#keep(res.headers);
    return res;
  }

  /** Opens the form at `path` and posts it with `fields` and the form's CSRF token. */
  async submit(path: string, fields: Record<string, string>) {
    const form = await this.get(path);
    return this.post(path, { _csrf: csrfOf(form.text), ...fields });
  }

  #keep(headers: Headers): void {
    for (const line of headers.getSetCookie()) {
      const [pair = ""] = line.split(";");
      const [name = "", value = ""] = pair.split("=");
      if (value === "" || /Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(line))
        this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
}

const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? "";

/** One account, registered on a phone and then logged into on a laptop. */
async function twoDevices(email: string) {
  const phone = new Browser(t.baseUrl);
  const laptop = new Browser(t.baseUrl);
  await phone.submit("/register", { email, password: strongPassword });
  await laptop.submit("/login", { email, password: strongPassword });
  return { phone, laptop };
}

describe("pages", () => {
  it("register -> account -> log out -> log in, all without JavaScript", async () => {
    const b = new Browser(t.baseUrl);
    const email = uniqueEmail("page");
    const form = await b.get("/register");
    expect(form.status).toBe(200);
    expect(form.headers.get("content-type")).toContain("text/html");
    expect(form.text).toContain('<form method="post" action="/register">');

    const created = await b.post("/register", {
      _csrf: csrfOf(form.text),
      email,
      password: strongPassword,
      displayName: "<b>Grace</b>",
    });
    expect(created.status).toBe(303);
    expect(created.headers.get("location")).toBe("/account");
    expect(b.cookies.has("spillway_session")).toBe(true);

    const account = await b.get("/account");
    expect(account.status).toBe(200);
    expect(account.text).toContain(email);
    // Names are escaped, never rendered as markup.
    expect(account.text).toContain("&lt;b&gt;Grace&lt;/b&gt;");
    expect(account.text).not.toContain("<b>Grace</b>");

    const out = await b.post("/logout", { _csrf: csrfOf(account.text) });
    expect(out.status).toBe(303);
    expect(out.headers.get("location")).toBe("/login");
    expect(b.cookies.has("spillway_session")).toBe(false);
    // The browser stays known to the account across its logouts.
    expect(b.cookies.get("spillway_device")).toMatch(/^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{22}$/);
    expect((await b.get("/account")).headers.get("location")).toBe("/login");

    const login = await b.get("/login");
    const wrong = await b.post("/login", {
      _csrf: csrfOf(login.text),
      email,
      password: "wrong-password-x",
    });
    expect(wrong.status).toBe(401);
    expect(wrong.text).toContain("Email or password is incorrect");
    expect(wrong.text).toContain(`value="${email}"`);
    const back = await b.post("/login", {
      _csrf: csrfOf(wrong.text),
      email,
      password: strongPassword,
    });
    expect(back.status).toBe(303);
    expect((await b.get("/account")).status).toBe(200);
  });

  it("logs a browser the account knows in through the form while others have locked the account", async () => {
    const email = uniqueEmail("page");
    const { phone } = await twoDevices(email);
    const statuses = [];
    for (let i = 0; i < 6; i++) {
      const attempt = await call(t.baseUrl, "POST", "/v1/login", {
        json: { email, password: "wrong-password-x" },
      });
      statuses.push(attempt.status);
    }
    expect(statuses.at(-1)).toBe(429);
    const back = await phone.submit("/login", { email, password: strongPassword });
    expect(back.status).toBe(303);
    expect((await phone.get("/account")).status).toBe(200);
    // A browser the account does not know meets the lock.
    const stranger = new Browser(t.baseUrl);
    const refused = await stranger.submit("/login", { email, password: strongPassword });
    expect(refused.status).toBe(429);
  });

  it("names each session's device as a person would, with its whole agent escaped in the title", async () => {
    const agent =
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0 "><script>alert(1)</script>';
    const reg = await call(t.baseUrl, "POST", "/v1/register", {
      json: { email: uniqueEmail("agent"), password: strongPassword },
      headers: { "user-agent": agent },
    });
    const account = await call(t.baseUrl, "GET", "/account", {
      cookie: `spillway_session=${reg.json.session.token}`,
    });
    expect(account.status).toBe(200);
    expect(account.text).toContain("Firefox on Windows");
    expect(account.text).toContain('title="Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0)');
    expect(account.text).toContain("Firefox/133.0 &quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(account.text).not.toContain("<script>alert(1)");
  });

  it("shows the reason when registration is refused, keeping what was typed", async () => {
    const b = new Browser(t.baseUrl);
    const form = await b.get("/register");
    const res = await b.post("/register", {
      _csrf: csrfOf(form.text),
      email: "grace@example.com",
      password: "password1",
    });
    expect(res.status).toBe(400);
    expect(res.text).toContain("The password is too weak");
    expect(res.text).toContain('value="grace@example.com"');
  });

  it("revokes another session from the account page", async () => {
    const { phone, laptop } = await twoDevices(uniqueEmail("revoker"));

    const account = await laptop.get("/account");
    const ids = [
      ...account.text.matchAll(/action="\/account\/sessions\/([0-9a-f-]+)\/revoke"/g),
    ].map((m) => m[1]);
    expect(ids).toHaveLength(1); // the other session; the current one has no revoke button
    const revoked = await laptop.post(`/account/sessions/${ids[0]}/revoke`, {
      _csrf: csrfOf(account.text),
    });
    expect(revoked.status).toBe(303);
    expect((await laptop.get("/account?done=revoked")).text).toContain("The session was revoked.");
    expect((await phone.get("/account")).headers.get("location")).toBe("/login");
    // The ended session's cookie is dropped, so the phone stops sending it.
    expect(phone.cookies.has("spillway_session")).toBe(false);
  });

  it("changes the password from the account page, logging out every other session", async () => {
    const email = uniqueEmail("changer");
    const { phone, laptop } = await twoDevices(email);
    const before = laptop.cookies.get("spillway_session");

    let account = await laptop.get("/account");
    expect(account.text).toContain('<form method="post" action="/account/password">');
    // Password managers learn which account the new password belongs to.
    expect(account.text).toContain(`autocomplete="username" value="${email}" hidden`);
    const wrong = await laptop.post("/account/password", {
      _csrf: csrfOf(account.text),
      currentPassword: "not-my-password-1",
      newPassword: "amber-lantern-quietly-47",
    });
    expect(wrong.status).toBe(403);
    expect(wrong.text).toContain("The current password is incorrect");
    // Still the account page, with its sessions and a fresh form.
    expect(wrong.text).toContain(email);
    expect(wrong.text).toContain("Active sessions");

    account = await laptop.get("/account");
    const changed = await laptop.post("/account/password", {
      _csrf: csrfOf(account.text),
      currentPassword: strongPassword,
      newPassword: "amber-lantern-quietly-47",
    });
    expect(changed.status).toBe(303);
    expect(changed.headers.get("location")).toBe("/account?done=password");
    expect(laptop.cookies.get("spillway_session")).not.toBe(before);
    const after = await laptop.get("/account?done=password");
    expect(after.text).toContain("Your password was changed");
    expect([...after.text.matchAll(/\/revoke"/g)]).toHaveLength(0);
    // The phone's session ended with the change.
    expect((await phone.get("/account")).headers.get("location")).toBe("/login");
    const old = await phone.submit("/login", { email, password: strongPassword });
    expect(old.status).toBe(401);
  });

  it("refuses form posts without a valid CSRF token and changes nothing", async () => {
    const b = new Browser(t.baseUrl);
    await b.get("/register");
    const email = uniqueEmail("csrf");
    for (const token of [undefined, "forged-token"]) {
      const fields: Record<string, string> = { email, password: strongPassword };
      if (token) fields._csrf = token;
      const res = await b.post("/register", fields);
      expect(res.status).toBe(403);
      expect(res.text).toContain("The form has expired");
    }
    // A token from another browser's secret is refused too.
    const other = new Browser(t.baseUrl);
    const foreign = csrfOf((await other.get("/register")).text);
    expect(
      (await b.post("/register", { _csrf: foreign, email, password: strongPassword })).status,
    ).toBe(403);
    const rows = await sql(t.databaseUrl, "SELECT 1 FROM users WHERE email = $1", [email]);
    expect(rows).toHaveLength(0);
  });

  it("answers repeated or odd form fields with a 400 page, not a 500", async () => {
    const b = new Browser(t.baseUrl);
    const form = await b.get("/login");
    const res = await call(t.baseUrl, "POST", "/login", {
      body: `_csrf=${encodeURIComponent(csrfOf(form.text))}&email=a%40b.com&email=c%40d.com&password=x`,
      headers: { "content-type": "application/x-www-form-urlencoded" },
      cookie: b.cookieHeader,
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toContain("text/html");
  });

  it("serves its stylesheet for browsers to keep, and its pages for none to store", async () => {
    const res = await call(t.baseUrl, "GET", "/assets/style.css");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/css");
    expect(res.headers.get("cache-control")).toBe("public, max-age=3600");
    const login = await call(t.baseUrl, "GET", "/login");
    expect(login.headers.get("cache-control")).toBe("no-store");
  });

  it("shows a browser a page, not JSON, for an address that does not exist", async () => {
    const html = { accept: "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8" };
    const missing = await call(t.baseUrl, "GET", "/acount", { headers: html });
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toContain("text/html");
    expect(missing.text).toContain("There is no page at this address.");
    expect(missing.text).toContain('href="/assets/style.css"');
    // The pages' own security headers: the stylesheet may load, nothing may frame it.
    expect(missing.headers.get("content-security-policy")).toContain("default-src 'self'");
    expect(missing.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(missing.headers.get("x-frame-options")).toBe("DENY");
    expect(missing.headers.get("cache-control")).toBe("no-store");

    const wrongMethod = await call(t.baseUrl, "DELETE", "/account", { headers: html });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toBe("GET, HEAD");
    expect(wrongMethod.text).toContain("This page cannot be used that way.");

    // Any other client, and anything under the API, gets the JSON error.
    expect((await call(t.baseUrl, "GET", "/acount")).json.error.code).toBe("REQUEST_NOT_FOUND");
    const api = await call(t.baseUrl, "GET", "/v1/nope", { headers: html });
    expect(api.json.error.code).toBe("REQUEST_NOT_FOUND");
  });
});

describe("served over https (cookieSecure)", () => {
  let s: TestApp;
  beforeAll(async () => {
    s = await startTestApp({ cookieSecure: true, cookieName: "__Host-spillway_session" });
  });
  afterAll(() => s?.close());

  /** The Set-Cookie line for one cookie. */
  const setCookie = (headers: Headers, name: string) =>
    headers.getSetCookie().find((line) => line.startsWith(`${name}=`)) ?? "";
  // What the __Host- prefix asks of a cookie: Secure, Path=/, no Domain.
  const hostCookie = (line: string, sameSite = "Lax") => {
    expect(line).toMatch(/; Secure(;|$)/);
    expect(line).toMatch(/; Path=\/(;|$)/);
    expect(line).toMatch(/; HttpOnly(;|$)/);
    expect(line).toMatch(new RegExp(`; SameSite=${sameSite}(;|$)`));
    expect(line).not.toMatch(/Domain=/i);
  };

  it("sets __Host- cookies, HSTS and upgrades, and the forms still work", async () => {
    const b = new Browser(s.baseUrl);
    const form = await b.get("/register");
    hostCookie(setCookie(form.headers, "__Host-spillway_csrf"));
    expect(form.headers.get("strict-transport-security")).toContain("max-age=");
    expect(form.headers.get("content-security-policy")).toContain("upgrade-insecure-requests");

    const created = await b.post("/register", {
      _csrf: csrfOf(form.text),
      email: uniqueEmail("https"),
      password: strongPassword,
    });
    expect(created.status).toBe(303);
    hostCookie(setCookie(created.headers, "__Host-spillway_session"));
    hostCookie(setCookie(created.headers, "__Host-spillway_device"), "Strict");
    expect((await b.get("/account")).status).toBe(200);

    const api = await call(s.baseUrl, "POST", "/v1/register", {
      json: { email: uniqueEmail("https"), password: strongPassword },
    });
    hostCookie(setCookie(api.headers, "__Host-spillway_session"));
    hostCookie(setCookie(api.headers, "__Host-spillway_device"), "Strict");
    expect(api.headers.get("strict-transport-security")).toContain("max-age=");
  });
});
