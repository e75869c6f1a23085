import { Type } from "@sinclair/typebox";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Accounts, Authenticated, IssuedSession, Sessions } from "../../auth/index.js";
import type { Config } from "../../config/index.js";
import { SpillwayError } from "../../errors/index.js";
import { useApiHeaders } from "../api-headers.js";
import { sendError } from "../error-response.js";
import { useStrictJsonParser } from "../json-body.js";
import { clientIp, credentialsContext, requestContext, sessionToken } from "../request-context.js";
import { clearSessionCookie, setDeviceCookie, setSessionCookie } from "../session-cookie.js";
import { type RouteTable, unmatchedRoute } from "../unmatched-route.js";
import {
  CurrentSessionReply,
  ErrorReply,
  errorReplies,
  IssuedSessionReply,
  LoginBody,
  PasswordChangeBody,
  RegisterBody,
  RevokedReply,
  SessionIdParams,
  SessionListReply,
} from "./schemas.js";

export interface ApiDeps {
  config: Config;
  accounts: Accounts;
  sessions: Sessions;
  routes: RouteTable;
}

declare module "fastify" {
  interface FastifyRequest {
    /** The caller's session, on routes that check it before their input (see sessionFirst). */
    auth: Authenticated | null;
  }
}

/** The JSON API under /v1. JSON bodies only: form posts are the pages' business. */
export async function apiRoutes(
  app: FastifyInstance,
  { config, accounts, sessions, routes }: ApiDeps,
): Promise<void> {
  useStrictJsonParser(app);
  useApiHeaders(app, config);
  app.setNotFoundHandler((request, reply) =>
    sendError(request, reply, unmatchedRoute(routes, request, reply)),
  );

  const authenticate = async (
    request: FastifyRequest,
    reply?: FastifyReply,
  ): Promise<Authenticated> => {
    const token = sessionToken(request, config.cookieName);
    if (!token) throw new SpillwayError("AUTH_SESSION_INVALID");
    const auth = await sessions.authenticate(token, clientIp(request));
    // The session slid: a cookie that carried it gets its Max-Age back.
    if (auth.renewed && reply && request.cookies[config.cookieName] === token)
      setSessionCookie(reply, config, token, auth.session.expiresAt);
    return auth;
  };

  // Set by `sessionFirst` on the routes that take input besides the session.
  app.decorateRequest("auth", null);
  /**
   * preValidation: the session is checked before the request's input, so a
   * caller without one is answered 401 whatever else it sent, and learns
   * nothing of the input's rules.
   */
  const sessionFirst = async (request: FastifyRequest) => {
    request.auth = await authenticate(request);
  };

  const issued = (reply: FastifyReply, s: IssuedSession) => {
    setSessionCookie(reply, config, s.token, s.session.expiresAt);
    setDeviceCookie(reply, config, s.deviceToken);
    return { user: s.user, session: { ...s.session, token: s.token } };
  };

  app.post<{ Body: RegisterBody }>(
    "/register",
    {
      schema: {
        summary: "Create an account and its first session",
        tags: ["accounts"],
        body: RegisterBody,
        response: { 201: IssuedSessionReply, 409: ErrorReply, ...errorReplies },
      },
    },
    async (request, reply) => {
      const session = await accounts.register(request.body, credentialsContext(request, config));
      return reply.code(201).send(issued(reply, session));
    },
  );

  app.post<{ Body: LoginBody }>(
    "/login",
    {
      schema: {
        summary: "Log in with email and password",
        description:
          "Sets the session cookie and the device cookie. Sent back at the next login, the device cookie keeps the client known to the account: its wrong passwords lock only itself, and failures from elsewhere never lock it out.",
        tags: ["accounts"],
        body: LoginBody,
        response: { 200: IssuedSessionReply, ...errorReplies },
      },
    },
    async (request, reply) => {
      const session = await accounts.login(request.body, credentialsContext(request, config));
      return issued(reply, session);
    },
  );

  app.post<{ Body: PasswordChangeBody }>(
    "/password",
    {
      schema: {
        summary: "Change the password; every session of the account ends and a new one is issued",
        tags: ["accounts"],
        body: PasswordChangeBody,
        response: { 200: IssuedSessionReply, 403: ErrorReply, ...errorReplies },
      },
      preValidation: sessionFirst,
    },
    async (request, reply) => {
      const auth = mustHave(request.auth);
      const session = await accounts.changePassword(
        auth,
        request.body,
        credentialsContext(request, config),
      );
      return issued(reply, session);
    },
  );

  app.post(
    "/logout",
    {
      schema: {
        summary: "Revoke the current session",
        tags: ["sessions"],
        response: { 204: Type.Null(), ...errorReplies },
      },
    },
    async (request, reply) => {
      await sessions.logout(await authenticate(request), requestContext(request));
      clearSessionCookie(reply, config);
      return reply.code(204).send();
    },
  );

  app.get(
    "/session",
    {
      schema: {
        summary: "The current user and session (cookie or bearer token)",
        tags: ["sessions"],
        response: { 200: CurrentSessionReply, ...errorReplies },
      },
    },
    async (request, reply) => authenticate(request, reply),
  );

  app.get(
    "/sessions",
    {
      schema: {
        summary: "The caller's active sessions",
        tags: ["sessions"],
        response: { 200: SessionListReply, ...errorReplies },
      },
    },
    async (request) => ({ sessions: await sessions.listSessions(await authenticate(request)) }),
  );

  app.delete<{ Params: SessionIdParams }>(
    "/sessions/:id",
    {
      schema: {
        summary: "Revoke one of the caller's sessions",
        tags: ["sessions"],
        params: SessionIdParams,
        response: { 204: Type.Null(), 404: ErrorReply, ...errorReplies },
      },
      preValidation: sessionFirst,
    },
    async (request, reply) => {
      const auth = mustHave(request.auth);
      await sessions.revokeSession(auth, request.params.id, requestContext(request));
      if (request.params.id === auth.session.id) clearSessionCookie(reply, config);
      return reply.code(204).send();
    },
  );

  app.delete(
    "/sessions",
    {
      schema: {
        summary: "Revoke all of the caller's sessions except the current one",
        tags: ["sessions"],
        response: { 200: RevokedReply, ...errorReplies },
      },
    },
    async (request) => {
      const auth = await authenticate(request);
      return { revoked: await sessions.revokeOtherSessions(auth, requestContext(request)) };
    },
  );
}

function mustHave(auth: Authenticated | null): Authenticated {
  if (!auth) throw new Error("route ran without its session check");
  return auth;
}
