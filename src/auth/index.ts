export {
  Accounts,
  type AccountsConfig,
  type AccountsDeps,
  type Authenticated,
  type IssuedSession,
  type LoginInput,
  type PasswordChangeInput,
  type RegisterInput,
  type RequestContext,
  type SessionListing,
  type SessionView,
  type UserView,
} from "./accounts.js";
export { normaliseEmail } from "./email.js";
export { IpThrottle, type IpThrottleConfig } from "./ip-throttle.js";
export { PasswordHasher, type PasswordHasherConfig } from "./password-hasher.js";
export { PasswordPolicy, passwordMaxLength, passwordMinLength } from "./password-policy.js";
export { type CachedSession, SessionCache, type SessionCacheConfig } from "./session-cache.js";
export { SessionPurge, type SessionPurgeConfig, type SessionPurgeEvents } from "./session-purge.js";
export { hashSessionToken, isSessionTokenShape, newSessionToken } from "./session-token.js";
