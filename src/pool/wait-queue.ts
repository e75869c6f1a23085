import type { Lane } from "./types.js";

/** Lanes in the order they are served; shedding goes the other way. */
export const lanes: readonly Lane[] = ["critical", "interactive", "bulk"];

export interface Waiter<T> {
  lane: Lane;
  enqueuedAtMs: number;
  /** Monotonic ms after which the waiter has given up. */
  deadlineMs: number;
  value: T;
  prev: Waiter<T> | undefined;
  next: Waiter<T> | undefined;
  queued: boolean;
}

/** A doubly linked list per lane: push, take from either end, remove in O(1). */
class LaneList<T> {
  head: Waiter<T> | undefined;
  tail: Waiter<T> | undefined;
  size = 0;

  push(w: Waiter<T>): void {
    w.prev = this.tail;
    w.next = undefined;
    if (this.tail) this.tail.next = w;
    else this.head = w;
    this.tail = w;
    this.size++;
  }

  remove(w: Waiter<T>): void {
    if (w.prev) w.prev.next = w.next;
    else this.head = w.next;
    if (w.next) w.next.prev = w.prev;
    else this.tail = w.prev;
    w.prev = undefined;
    w.next = undefined;
    this.size--;
  }
}

export interface WaitQueueConfig {
  /** CoDel target: the queueing delay the queue may keep, ms. */
  targetMs: number;
  /** CoDel interval over which the minimum delay is judged, ms. */
  intervalMs: number;
}

/**
 * The pool's waiters, in priority lanes, with CoDel-style overload
 * detection: when even the luckiest waiter of an interval waited longer than
 * the target, the queue is standing, not absorbing a burst; it is then
 * served newest first (fresh requests still have a client waiting).
 */
export class WaitQueue<T> {
  readonly #lists = new Map<Lane, LaneList<T>>(lanes.map((lane) => [lane, new LaneList<T>()]));
  readonly #config: WaitQueueConfig;
  #size = 0;
  #intervalStartMs = 0;
  #minDelayMs = Number.POSITIVE_INFINITY;
  #overloaded = false;

  constructor(config: WaitQueueConfig) {
    this.#config = config;
  }

  get size(): number {
    return this.#size;
  }

  sizeOf(lane: Lane): number {
    return this.#lists.get(lane)?.size ?? 0;
  }

  /** True while the queue is standing (CoDel): served newest first, shed early. */
  overloaded(nowMs: number): boolean {
    this.#roll(nowMs);
    return this.#overloaded;
  }

  push(w: Waiter<T>): void {
    this.#list(w.lane).push(w);
    w.queued = true;
    this.#size++;
  }

  remove(w: Waiter<T>): void {
    if (!w.queued) return;
    this.#list(w.lane).remove(w);
    w.queued = false;
    this.#size--;
    if (this.#size === 0) this.#minDelayMs = 0;
  }

  /**
   * The next waiter to serve among lanes `allowed` accepts: the highest
   * lane first; oldest first normally, newest first when overloaded.
   */
  take(nowMs: number, allowed: (lane: Lane) => boolean): Waiter<T> | undefined {
    const newestFirst = this.overloaded(nowMs);
    for (const lane of lanes) {
      const list = this.#list(lane);
      if (list.size === 0 || !allowed(lane)) continue;
      const w = (newestFirst ? list.tail : list.head) as Waiter<T>;
      this.remove(w);
      this.#minDelayMs = Math.min(this.#minDelayMs, nowMs - w.enqueuedAtMs);
      return w;
    }
    return undefined;
  }

  /** Oldest waiter of the lowest non-empty lane at or below `lane`: the first to shed. */
  sheddable(atOrBelow: Lane): Waiter<T> | undefined {
    for (let i = lanes.length - 1; i >= 0; i--) {
      const lane = lanes[i] as Lane;
      const head = this.#list(lane).head;
      if (head) return head;
      if (lane === atOrBelow) return undefined;
    }
    return undefined;
  }

  /** Every waiter, lowest lane first, oldest first. */
  *all(): Generator<Waiter<T>> {
    for (let i = lanes.length - 1; i >= 0; i--) {
      for (let w = this.#list(lanes[i] as Lane).head; w; w = w.next) yield w;
    }
  }

  #roll(nowMs: number): void {
    if (nowMs - this.#intervalStartMs < this.#config.intervalMs) return;
    // A standing queue also shows as a head that has waited past the target.
    let oldestDelay = 0;
    for (const lane of lanes) {
      const head = this.#list(lane).head;
      if (head) oldestDelay = Math.max(oldestDelay, nowMs - head.enqueuedAtMs);
    }
    const served = this.#minDelayMs === Number.POSITIVE_INFINITY ? oldestDelay : this.#minDelayMs;
    this.#overloaded = this.#size > 0 && served > this.#config.targetMs;
    this.#intervalStartMs = nowMs;
    this.#minDelayMs = Number.POSITIVE_INFINITY;
  }

  #list(lane: Lane): LaneList<T> {
    return this.#lists.get(lane) as LaneList<T>;
  }
}
