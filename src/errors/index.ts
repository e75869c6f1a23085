export { type ErrorCode, errorCatalog } from "./catalog.js";
export { isSpillwayError, SpillwayError, type SpillwayErrorOptions } from "./spillway-error.js";
