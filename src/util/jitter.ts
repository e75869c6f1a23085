/** `value` spread uniformly by ±fraction, so many clients do not retry in step. */
export function jitter(value: number, fraction = 0.2, random: () => number = Math.random): number {
  return value * (1 - fraction + 2 * fraction * random());
}
