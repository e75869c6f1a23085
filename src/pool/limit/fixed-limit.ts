import type { LimitAlgorithm } from "./limit-algorithm.js";

/** A limit that never moves: the classic fixed-size pool. */
export class FixedLimit implements LimitAlgorithm {
  readonly limit: number;
  constructor(limit: number) {
    this.limit = limit;
  }
  onSample(): number {
    return this.limit;
  }
}
