/**
 * Every error code Spillway answers with. Codes are stable API: never reuse or
 * rename one; add new ones at the end of their area.
 */
export const errorCatalog = {
  // Request shape
  REQUEST_INVALID: { status: 400, message: "The request does not match the expected shape" },
  REQUEST_MALFORMED: { status: 400, message: "The request body is not valid JSON" },
  REQUEST_ENCODING_INVALID: { status: 400, message: "The request body is not valid UTF-8" },
  REQUEST_TOO_LARGE: { status: 413, message: "The request body is too large" },
  REQUEST_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: "Unsupported content type" },
  REQUEST_NOT_FOUND: { status: 404, message: "No such route" },
  REQUEST_METHOD_NOT_ALLOWED: { status: 405, message: "Method not allowed" },
  REQUEST_CSRF_INVALID: {
    status: 403,
    message: "The form has expired; reload the page and try again",
  },
  REQUEST_URL_INVALID: { status: 400, message: "The request URL is not valid" },
  REQUEST_URL_TOO_LONG: { status: 414, message: "A part of the request URL is too long" },
  REQUEST_HTTP_INVALID: { status: 400, message: "The request is not valid HTTP" },
  REQUEST_HEADERS_TOO_LARGE: { status: 431, message: "The request headers are too large" },
  REQUEST_TIMEOUT: { status: 408, message: "The request took too long to arrive" },
  // Accounts
  AUTH_INVALID_CREDENTIALS: { status: 401, message: "Email or password is incorrect" },
  AUTH_EMAIL_INVALID: { status: 400, message: "The email address is not valid" },
  AUTH_EMAIL_TAKEN: { status: 409, message: "An account with this email already exists" },
  AUTH_PASSWORD_WEAK: { status: 400, message: "The password is too weak" },
  AUTH_RATE_LIMITED: { status: 429, message: "Too many attempts; try again later" },
  AUTH_SESSION_INVALID: { status: 401, message: "No valid session" },
  AUTH_SESSION_NOT_FOUND: { status: 404, message: "No such session" },
  AUTH_PASSWORD_INCORRECT: { status: 403, message: "The current password is incorrect" },
  // Capacity: load is turned away fast instead of queueing until it times out
  HASH_SATURATED: { status: 503, message: "The service is busy; try again shortly" },
  POOL_SATURATED: { status: 503, message: "The service is busy; try again shortly" },
  POOL_ACQUIRE_TIMEOUT: { status: 503, message: "The service is busy; try again shortly" },
  // Database
  DB_UNAVAILABLE: { status: 503, message: "The database is unavailable" },
  DB_CONNECTION_LIMIT: { status: 503, message: "The database has no free connections" },
  DB_QUERY_TIMEOUT: { status: 503, message: "A database query took too long" },
  DB_READ_ONLY: { status: 503, message: "The database accepts no writes right now" },
  DB_RESOURCES_EXHAUSTED: { status: 503, message: "The database is out of disk space or memory" },
  // Operations
  METRICS_UNAVAILABLE: { status: 503, message: "Metrics could not be collected; try again" },
  OPS_HOST_REFUSED: {
    status: 421,
    message: "This listener answers only requests addressed to its loopback address",
  },
  // Lifecycle
  SERVICE_SHUTTING_DOWN: { status: 503, message: "The service is shutting down" },
  CONFIG_INVALID: { status: 500, message: "The configuration is invalid" },
  INTERNAL: { status: 500, message: "Internal error" },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorCatalog;
