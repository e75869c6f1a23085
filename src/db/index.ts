export { Database, type RunOptions } from "./database.js";
export {
  EmbeddedDatabase,
  type EmbeddedDatabaseConfig,
  type EmbeddedDatabaseEvents,
  logRestarts,
  type RestartLog,
  type StartNotice,
} from "./embedded-database.js";
export { type MigrateResult, migrate } from "./migrate.js";
export { type Migration, migrations } from "./migrations.js";
export {
  NotificationListener,
  type NotificationListenerConfig,
  type NotificationListenerEvents,
} from "./notification-listener.js";
export { type Statement, statement } from "./statement.js";
export {
  type LockoutParams,
  type LoginUserRow,
  type RevokedRow,
  type SessionRow,
  type SessionUserRow,
  sessionRevokedChannel,
  statements,
  type UserRow,
} from "./statements.js";
