export { toDatabaseError } from "./database-error.js";
export { connectionOptions, PlainPool, type PlainPoolConfig } from "./plain-pool.js";
export type {
  AcquireOptions,
  ConnectionConfig,
  DatabasePool,
  Lane,
  PooledClient,
  QueryConfig,
  QueryResultLike,
} from "./types.js";
