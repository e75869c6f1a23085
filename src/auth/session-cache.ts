import { LRUCache } from "lru-cache";

/** What a session check needs, held for a few seconds per token hash. */
export interface CachedSession {
  sessionId: string;
  userId: string;
  email: string;
  displayName: string | null;
  userCreatedAt: Date;
  sessionCreatedAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
}

export interface SessionCacheConfig {
  /** How long an entry is trusted; 0 disables the cache. */
  ttlMs: number;
  maxEntries: number;
}

/**
 * Short-TTL cache of session checks keyed by token hash (hex). Revocation
 * evicts the entry and leaves a tombstone, so a lookup that was already in
 * flight cannot put a revoked session back. The cache serves only while
 * `trusted` (its invalidation feed is connected); otherwise every check goes
 * to the database.
 *
 * A tombstone also answers for a token the database did not find: a token
 * that is unknown, revoked or expired never becomes valid again, so a client
 * that keeps sending a stale one costs one query per tombstone lifetime, not
 * one per request.
 */
export class SessionCache {
  readonly #entries: LRUCache<string, CachedSession> | undefined;
  readonly #tombstones: LRUCache<string, true>;
  #trusted = false;

  constructor(config: SessionCacheConfig) {
    this.#entries =
      config.ttlMs > 0 ? new LRUCache({ max: config.maxEntries, ttl: config.ttlMs }) : undefined;
    // Outlives any lookup that could have started before the revocation.
    this.#tombstones = new LRUCache({ max: 100_000, ttl: config.ttlMs + 60_000 });
  }

  get size(): number {
    return this.#entries?.size ?? 0;
  }

  get trusted(): boolean {
    return this.#trusted;
  }

  /** Trust the cache again (invalidation feed up) or stop trusting it and drop everything. */
  setTrusted(trusted: boolean): void {
    this.#trusted = trusted;
    this.#entries?.clear();
  }

  get(key: string): CachedSession | undefined {
    return this.#trusted ? this.#entries?.get(key) : undefined;
  }

  set(key: string, session: CachedSession): void {
    if (this.#trusted && !this.#tombstones.has(key)) this.#entries?.set(key, session);
  }

  /**
   * True when this token is known to be unknown, revoked or expired. Holds
   * whether or not the feed is connected (what it says never turns false),
   * but only while the cache is enabled.
   */
  knownInvalid(key: string): boolean {
    return this.#entries !== undefined && this.#tombstones.has(key);
  }

  evict(key: string): void {
    this.#tombstones.set(key, true);
    this.#entries?.delete(key);
  }
}
