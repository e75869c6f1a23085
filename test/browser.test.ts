import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, strongPassword, uniqueEmail } from "./support/http-client.js";
import { startTestApp, type TestApp } from "./support/test-app.js";

const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

let t: TestApp;
let browser: Browser;
let profile: string;
beforeAll(async () => {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `no Chromium at ${chromiumPath}: run 'npm run setup:browser' (or set CHROMIUM_PATH)`,
    );
  }
  t = await startTestApp();
  profile = mkdtempSync(join(tmpdir(), "spillway-chromium-"));
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe("in a real browser", () => {
  it("registers, logs in elsewhere, sees /account, revokes a session, changes the password and logs out", async () => {
    const email = uniqueEmail("browser");
    const first = await browser.newContext();
    const page = await first.newPage();
    await page.goto(`${t.baseUrl}/register`);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Name").fill("Margaret Hamilton");
    await page.getByLabel("Password").fill(strongPassword);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.waitForURL("**/account");
    expect(await page.locator("#email").textContent()).toBe(email);
    if (process.env.SCREENSHOT_DIR)
      await page.screenshot({ path: join(process.env.SCREENSHOT_DIR, "account.png") });

    // A second device logs in.
    const second = await browser.newContext({ userAgent: "SecondDevice/1.0" });
    const other = await second.newPage();
    await other.goto(`${t.baseUrl}/login`);
    await other.getByLabel("Email").fill(email);
    await other.getByLabel("Password").fill(strongPassword);
    await other.getByRole("button", { name: "Log in" }).click();
    await other.waitForURL("**/account");

    // The first device sees both sessions and revokes the other one.
    await page.reload();
    if (process.env.SCREENSHOT_DIR)
      await page.screenshot({ path: join(process.env.SCREENSHOT_DIR, "account2.png") });
    await expect.poll(() => page.locator("table.sessions tbody tr").count()).toBe(2);
    await expect.poll(() => page.getByText("SecondDevice/1.0").count()).toBe(1);
    await page.getByRole("button", { name: /^Revoke session/ }).click();
    await page.waitForURL("**/account?done=revoked");
    expect(await page.locator("table.sessions tbody tr").count()).toBe(1);

    // The revoked device is sent back to the login page.
    await other.goto(`${t.baseUrl}/account`);
    await other.waitForURL("**/login");

    // Changing the password keeps this device in, on a renewed session.
    await page.getByLabel("Current password").fill(strongPassword);
    await page.getByLabel("New password").fill("amber-lantern-quietly-47");
    await page.getByRole("button", { name: "Change password" }).click();
    await page.waitForURL("**/account?done=password");
    expect(await page.getByRole("status").textContent()).toContain("Your password was changed");
    // Logging out ends the first session too.
    await page.getByRole("button", { name: "Log out", exact: true }).click();
    await page.waitForURL("**/login");
    await page.goto(`${t.baseUrl}/account`);
    await page.waitForURL("**/login");
    // The browser stays known to the account after logging out...
    const device = (await first.cookies()).find((c) => c.name === "spillway_device");
    expect(device).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/" });
    // ...so failures from elsewhere, which lock the account, do not lock it out.
    let locked = 0;
    for (let i = 0; i < 6; i++) {
      const r = await call(t.baseUrl, "POST", "/v1/login", {
        json: { email, password: "wrong-password-here" },
      });
      if (r.status === 429) locked++;
    }
    expect(locked).toBeGreaterThan(0);
    // The new password logs in.
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill("amber-lantern-quietly-47");
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL("**/account");

    // A mistyped address shows a page, as the browser asks for HTML.
    const missing = await page.goto(`${t.baseUrl}/acount`);
    expect(missing?.status()).toBe(404);
    expect(await page.getByRole("alert").textContent()).toBe("There is no page at this address.");
    await first.close();
    await second.close();
  });
});
