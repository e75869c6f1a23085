export { type ErrorBody, type ErrorResponse, toErrorResponse } from "./error-response.js";
export { createHttpServer, type HttpServerDeps } from "./http-server.js";
