import { readFileSync } from "node:fs";
import formBody from "@fastify/formbody";
import helmet from "@fastify/helmet";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Accounts, Authenticated, Sessions } from "../../auth/index.js";
import type { Config } from "../../config/index.js";
import { isSpillwayError, SpillwayError } from "../../errors/index.js";
import { prepareErrorReply, sendError } from "../error-response.js";
import { allStringsWellFormed } from "../json-body.js";
import { clientIp, credentialsContext, requestContext } from "../request-context.js";
import { clearSessionCookie, setDeviceCookie, setSessionCookie } from "../session-cookie.js";
import { type RouteTable, unmatchedRoute } from "../unmatched-route.js";
import { accountPage, errorPage, loginPage, registerPage } from "./views.js";

export interface PageDeps {
  config: Config;
  accounts: Accounts;
  sessions: Sessions;
  routes: RouteTable;
}

const styleSheet = readFileSync(new URL("../../../web/style.css", import.meta.url), "utf8");

type Form = Record<string, unknown>;

/** Server-rendered pages that work without JavaScript; every form post is CSRF-checked. */
export async function pageRoutes(
  app: FastifyInstance,
  { config, accounts, sessions, routes }: PageDeps,
): Promise<void> {
  await app.register(formBody, { bodyLimit: config.bodyLimitBytes });
  await app.register(helmet, {
    // Pages post their forms to themselves and load one stylesheet. HSTS and
    // upgrade-insecure-requests only when served over https.
    contentSecurityPolicy: {
      directives: {
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "upgrade-insecure-requests": config.cookieSecure ? [] : null,
      },
    },
    strictTransportSecurity: config.cookieSecure,
    // For browsers without CSP's frame-ancestors: no framing, same origin
    // included, as the policy says (helmet's default is SAMEORIGIN).
    xFrameOptions: { action: "deny" },
  });

  // Pages hold CSRF tokens and account data: never stored. The stylesheet
  // sets its own.
  app.addHook("onSend", async (_request, reply) => {
    if (!reply.hasHeader("cache-control")) reply.header("cache-control", "no-store");
  });
  app.setErrorHandler((err, request, reply) => {
    const { status, body } = prepareErrorReply(request, reply, err, "page failed");
    return reply
      .code(status)
      .type("text/html; charset=utf-8")
      .send(errorPage(status, body.error.message));
  });

  const csrf = { preValidation: app.csrfProtection };
  const page = (reply: FastifyReply, status: number, content: string) =>
    reply.code(status).type("text/html; charset=utf-8").send(content);

  // Every path outside the API's: a browser gets a page, any other client
  // the API's JSON error.
  app.setNotFoundHandler((request, reply) => {
    const err = unmatchedRoute(routes, request, reply);
    if (!(request.headers.accept ?? "").includes("text/html"))
      return sendError(request, reply, err);
    const message =
      err.code === "REQUEST_NOT_FOUND"
        ? "There is no page at this address."
        : "This page cannot be used that way.";
    return page(reply, err.status, errorPage(err.status, message));
  });
  const toAccount = (reply: FastifyReply) => reply.redirect("/account", 303);
  const toLogin = (reply: FastifyReply) => reply.redirect("/login", 303);

  /**
   * The session the cookie carries. Given the reply (pages a browser lands
   * on), a slid session's cookie is re-issued and an ended one's is dropped,
   * so the browser stops sending it.
   */
  const currentSession = async (
    request: FastifyRequest,
    reply?: FastifyReply,
  ): Promise<Authenticated | undefined> => {
    const token = request.cookies[config.cookieName];
    if (!token) return undefined;
    try {
      const auth = await sessions.authenticate(token, clientIp(request));
      if (auth.renewed && reply) setSessionCookie(reply, config, token, auth.session.expiresAt);
      return auth;
    } catch (err) {
      if (!isSpillwayError(err, "AUTH_SESSION_INVALID")) throw err;
      if (reply) clearSessionCookie(reply, config);
      return undefined;
    }
  };

  /** Re-renders a form with the reason when an account action is refused. */
  const refused = (reply: FastifyReply, err: unknown, render: (error: string) => string) => {
    if (!isSpillwayError(err) || err.code === "INTERNAL") throw err;
    prepareErrorReply(reply.request, reply, err, "page failed");
    return page(reply, err.status, render(err.message));
  };

  app.get("/assets/style.css", async (_request, reply) =>
    reply
      .type("text/css; charset=utf-8")
      .header("cache-control", "public, max-age=3600")
      .send(styleSheet),
  );

  app.get("/", async (request, reply) =>
    (await currentSession(request, reply)) ? toAccount(reply) : toLogin(reply),
  );

  app.get("/register", async (_request, reply) =>
    page(reply, 200, registerPage({ csrfToken: reply.generateCsrf() })),
  );

  app.post<{ Body: Form }>("/register", csrf, async (request, reply) => {
    const email = field(request.body, "email");
    const displayName = field(request.body, "displayName");
    try {
      const issued = await accounts.register(
        { email, password: field(request.body, "password"), displayName },
        credentialsContext(request, config),
      );
      setSessionCookie(reply, config, issued.token, issued.session.expiresAt);
      setDeviceCookie(reply, config, issued.deviceToken);
      return toAccount(reply);
    } catch (err) {
      return refused(reply, err, (error) =>
        registerPage({ csrfToken: reply.generateCsrf(), error, email, displayName }),
      );
    }
  });

  app.get("/login", async (_request, reply) =>
    page(reply, 200, loginPage({ csrfToken: reply.generateCsrf() })),
  );

  app.post<{ Body: Form }>("/login", csrf, async (request, reply) => {
    const email = field(request.body, "email");
    try {
      const issued = await accounts.login(
        { email, password: field(request.body, "password") },
        credentialsContext(request, config),
      );
      setSessionCookie(reply, config, issued.token, issued.session.expiresAt);
      setDeviceCookie(reply, config, issued.deviceToken);
      return toAccount(reply);
    } catch (err) {
      return refused(reply, err, (error) =>
        loginPage({ csrfToken: reply.generateCsrf(), error, email }),
      );
    }
  });

  app.get<{ Querystring: { done?: string } }>("/account", async (request, reply) => {
    const auth = await currentSession(request, reply);
    if (!auth) return toLogin(reply);
    const notice = notices[request.query.done ?? ""];
    const listed = await sessions.listSessions(auth);
    return page(reply, 200, accountPage(auth, listed, reply.generateCsrf(), { notice }));
  });

  app.post<{ Body: Form }>("/account/password", csrf, async (request, reply) => {
    const auth = await currentSession(request);
    if (!auth) return toLogin(reply);
    try {
      const issued = await accounts.changePassword(
        auth,
        {
          currentPassword: field(request.body, "currentPassword"),
          newPassword: field(request.body, "newPassword"),
        },
        credentialsContext(request, config),
      );
      setSessionCookie(reply, config, issued.token, issued.session.expiresAt);
      return reply.redirect("/account?done=password", 303);
    } catch (err) {
      const listed = isSpillwayError(err) ? await sessions.listSessions(auth) : [];
      return refused(reply, err, (passwordError) =>
        accountPage(auth, listed, reply.generateCsrf(), { passwordError }),
      );
    }
  });

  app.post<{ Params: { id: string } }>(
    "/account/sessions/:id/revoke",
    csrf,
    async (request, reply) => {
      const auth = await currentSession(request);
      if (!auth) return toLogin(reply);
      const id = request.params.id;
      if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) {
        throw new SpillwayError("AUTH_SESSION_NOT_FOUND");
      }
      await sessions.revokeSession(auth, id, requestContext(request));
      if (id === auth.session.id) {
        clearSessionCookie(reply, config);
        return toLogin(reply);
      }
      return reply.redirect("/account?done=revoked", 303);
    },
  );

  app.post("/account/sessions/revoke-others", csrf, async (request, reply) => {
    const auth = await currentSession(request);
    if (!auth) return toLogin(reply);
    await sessions.revokeOtherSessions(auth, requestContext(request));
    return reply.redirect("/account?done=revoked-others", 303);
  });

  app.post("/logout", csrf, async (request, reply) => {
    const auth = await currentSession(request);
    if (auth) await sessions.logout(auth, requestContext(request));
    clearSessionCookie(reply, config);
    return toLogin(reply);
  });
}

const notices: Record<string, string> = {
  revoked: "The session was revoked.",
  "revoked-others": "All other sessions were logged out.",
  password: "Your password was changed, and every other session was logged out.",
};

/** A single text field of a form; repeated or non-text fields are refused. */
function field(body: Form | undefined, name: string): string {
  const value = body?.[name];
  if (value === undefined) return "";
  if (typeof value !== "string" || !allStringsWellFormed(value) || value.length > 1024) {
    throw new SpillwayError("REQUEST_INVALID", { details: [{ field: name }] });
  }
  return value;
}
