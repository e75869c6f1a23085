import { mkdirSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";

import type { Goal } from "../../src/lab/goals.js";

export { type Goal, goal, round } from "../../src/lab/goals.js";

/** Writes bench/results/NAME.json in the shared format and prints the goal table. */
export function report(name: string, goals: Goal[], data: Record<string, unknown>): void {
  const result = {
    name,
    date: new Date().toISOString(),
    machine: {
      cores: availableParallelism(),
      cpu: cpus()[0]?.model ?? "unknown",
      node: process.version,
    },
    goals,
    data,
  };
  const dir = new URL("../results/", import.meta.url);
  mkdirSync(dir, { recursive: true });
  writeFileSync(new URL(`${name}.json`, dir), `${JSON.stringify(result, null, 2)}\n`);
  if (goals.length === 0) {
    console.log(`written bench/results/${name}.json`);
    return;
  }
  console.log(`\n${name}: goals`);
  console.table(
    goals.map((g) => ({
      goal: g.id,
      value: g.value,
      target: `${g.op} ${g.target}`,
      met: g.met ? "yes" : "NO",
    })),
  );
  console.log(`written bench/results/${name}.json`);
}
