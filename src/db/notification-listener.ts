import { EventEmitter } from "node:events";
import pg from "pg";
import { jitter } from "../util/index.js";

export interface NotificationListenerConfig {
  connectionString: string;
  channel: string;
  applicationName: string;
  /** First reconnect delay; doubles up to maxBackoffMs. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface NotificationListenerEvents {
  /** Listening; notifications sent from now on arrive. Anything before may have been missed. */
  up: [];
  /** Not listening; notifications are being missed until the next `up`. */
  down: [error: unknown];
  message: [payload: string];
}

/**
 * One dedicated connection that LISTENs on a channel and reconnects with
 * jittered backoff. Consumers must treat `down` as "state may be stale".
 */
export class NotificationListener extends EventEmitter<NotificationListenerEvents> {
  readonly #config: NotificationListenerConfig;
  #client: pg.Client | undefined;
  #listening = false;
  #stopped = false;
  #backoffMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(config: NotificationListenerConfig) {
    super();
    this.#config = config;
    this.#backoffMs = config.minBackoffMs ?? 100;
  }

  get listening(): boolean {
    return this.#listening;
  }

  /** Connects; resolves once listening or after the first failure (it keeps retrying). */
  async start(): Promise<void> {
    await this.#connect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const client = this.#client;
    this.#client = undefined;
    this.#listening = false;
    await client?.end().catch(() => {});
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    const client = new pg.Client({
      connectionString: this.#config.connectionString,
      application_name: this.#config.applicationName,
      connectionTimeoutMillis: 5000,
      keepAlive: true,
    });
    client.on("notification", (msg) => {
      if (msg.channel === this.#config.channel && msg.payload !== undefined) {
        this.emit("message", msg.payload);
      }
    });
    client.on("error", (err) => this.#lost(client, err));
    client.on("end", () => this.#lost(client, new Error("listener connection ended")));
    this.#client = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${client.escapeIdentifier(this.#config.channel)}`);
      if (this.#client !== client) return;
      this.#listening = true;
      this.#backoffMs = this.#config.minBackoffMs ?? 100;
      this.emit("up");
    } catch (err) {
      this.#lost(client, err);
    }
  }

  #lost(client: pg.Client, err: unknown): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    this.#listening = false;
    client.end().catch(() => {});
    if (this.#stopped) return;
    this.emit("down", err);
    const delayMs = jitter(this.#backoffMs);
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#config.maxBackoffMs ?? 5000);
    this.#timer = setTimeout(() => void this.#connect(), delayMs);
    this.#timer.unref();
  }
}
