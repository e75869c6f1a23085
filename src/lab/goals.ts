/** A benchmark goal in the shared results format: a measured value against a target. */
export interface Goal {
  id: string;
  description: string;
  value: number;
  op: "<=" | ">=" | "<" | ">";
  target: number;
  met: boolean;
}

export function round(value: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function goal(
  id: string,
  description: string,
  value: number,
  op: Goal["op"],
  target: number,
): Goal {
  const met =
    op === "<="
      ? value <= target
      : op === ">="
        ? value >= target
        : op === "<"
          ? value < target
          : value > target;
  return { id, description, value: round(value), op, target, met };
}
