export {
  AdaptivePool,
  type AdaptivePoolClient,
  type AdaptivePoolConfig,
  type AdaptivePoolEvents,
  type PoolStats,
} from "./adaptive-pool.js";
export {
  type BudgetSnapshot,
  budgetStatements,
  ConnectionBudget,
  type ConnectionBudgetConfig,
} from "./connection-budget.js";
export { toDatabaseError } from "./database-error.js";
export {
  AimdLimit,
  FixedLimit,
  Gradient2Limit,
  type LimitAlgorithm,
  type LimitSample,
  VegasLimit,
} from "./limit/index.js";
export { type PgConnectorConfig, pgConnector } from "./pg-connector.js";
export { connectionOptions, PlainPool, type PlainPoolConfig } from "./plain-pool.js";
export type {
  AcquireOptions,
  ConnectionConfig,
  Connector,
  DatabasePool,
  Lane,
  PhysicalConnection,
  PooledClient,
  QueryConfig,
  QueryResultLike,
} from "./types.js";
