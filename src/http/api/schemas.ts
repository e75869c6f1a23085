import { type Static, Type } from "@sinclair/typebox";
import { type ErrorCode, errorCatalog } from "../../errors/index.js";

export const RegisterBody = Type.Object(
  {
    email: Type.String({
      minLength: 1,
      maxLength: 320,
      description: "normalised: trimmed, lower-cased",
    }),
    password: Type.String({ maxLength: 1024, description: "8 to 256 characters; not guessable" }),
    displayName: Type.Optional(Type.Union([Type.String({ maxLength: 400 }), Type.Null()])),
  },
  { additionalProperties: false },
);
export type RegisterBody = Static<typeof RegisterBody>;

export const LoginBody = Type.Object(
  {
    email: Type.String({ minLength: 1, maxLength: 320 }),
    password: Type.String({ maxLength: 1024 }),
  },
  { additionalProperties: false },
);
export type LoginBody = Static<typeof LoginBody>;

export const PasswordChangeBody = Type.Object(
  {
    currentPassword: Type.String({ maxLength: 1024 }),
    newPassword: Type.String({
      maxLength: 1024,
      description: "8 to 256 characters; not guessable",
    }),
  },
  { additionalProperties: false },
);
export type PasswordChangeBody = Static<typeof PasswordChangeBody>;

export const SessionIdParams = Type.Object({ id: Type.String({ format: "uuid" }) });
export type SessionIdParams = Static<typeof SessionIdParams>;

const DateTime = Type.String({ format: "date-time" });

// Reply schemas avoid anyOf: fast-json-stringify serialises an anyOf by
// running an Ajv validator for each branch until one matches, and compiles
// those validators on a route's first reply of that status. A route's first
// error reply then took 15-20 ms of the event loop, which the spike's onset
// paid on every route at once with its first 503s. A list of types, and an
// enum on a string, are serialised without a validator and document the same.

/** A string or null. */
const NullableString = Type.Unsafe<string | null>({ type: ["string", "null"] });

export const User = Type.Object({
  id: Type.String({ format: "uuid" }),
  email: Type.String(),
  displayName: NullableString,
  createdAt: DateTime,
});

export const Session = Type.Object({
  id: Type.String({ format: "uuid" }),
  createdAt: DateTime,
  lastSeenAt: DateTime,
  expiresAt: DateTime,
});

export const IssuedSessionReply = Type.Object({
  user: User,
  session: Type.Composite([
    Session,
    Type.Object({
      token: Type.String({ description: "send as Authorization: Bearer; also set as cookie" }),
    }),
  ]),
});

export const CurrentSessionReply = Type.Object({ user: User, session: Session });

export const SessionListReply = Type.Object({
  sessions: Type.Array(
    Type.Composite([
      Session,
      Type.Object({
        current: Type.Boolean(),
        ip: NullableString,
        userAgent: NullableString,
      }),
    ]),
  ),
});

export const RevokedReply = Type.Object({ revoked: Type.Integer() });

export const ErrorReply = Type.Object({
  error: Type.Object({
    code: Type.Unsafe<ErrorCode>({ type: "string", enum: Object.keys(errorCatalog) }),
    message: Type.String(),
    details: Type.Optional(Type.Unknown()),
  }),
});

/** The error replies every route may give, for the OpenAPI document. */
export const errorReplies = {
  400: ErrorReply,
  401: ErrorReply,
  413: ErrorReply,
  415: ErrorReply,
  429: ErrorReply,
  503: ErrorReply,
};
