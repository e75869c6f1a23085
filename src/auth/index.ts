export {
  Accounts,
  type AccountsConfig,
  type AccountsDeps,
  type LoginInput,
  type PasswordChangeInput,
  type RegisterInput,
} from "./accounts.js";
export { DeviceTokens, loadDeviceTokens } from "./device-token.js";
export { normaliseEmail } from "./email.js";
export { InFlight } from "./in-flight.js";
export { IpThrottle, type IpThrottleConfig } from "./ip-throttle.js";
export { PasswordHasher, type PasswordHasherConfig } from "./password-hasher.js";
export { PasswordPolicy, passwordMaxLength, passwordMinLength } from "./password-policy.js";
export {
  type PurgeStatement,
  RetentionPurge,
  type RetentionPurgeConfig,
  type RetentionPurgeEvents,
} from "./retention-purge.js";
export { type CachedSession, SessionCache, type SessionCacheConfig } from "./session-cache.js";
export { hashSessionToken, isSessionTokenShape, newSessionToken } from "./session-token.js";
export {
  type Authenticated,
  type IssuedSession,
  type RequestContext,
  type SessionListing,
  Sessions,
  type SessionsConfig,
  type SessionsDeps,
  type SessionView,
  type UserView,
} from "./sessions.js";
