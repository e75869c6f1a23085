export { type ErrorBody, type ErrorResponse, toErrorResponse } from "./error-response.js";
export { createHttpServer, type HttpServerDeps } from "./http-server.js";
export { createOpsServer, listeningUrl, type OpsServerDeps } from "./ops/index.js";
