/**
 * The spike lab as a benchmark: a short jan15 against naive, a sweep of
 * fixed pools and the default configuration, in one run on this machine.
 */
import { availableParallelism } from "node:os";
import { runSpikeLab } from "../src/lab/index.js";
import { freePort } from "../src/util/index.js";
import { report } from "./support/results.js";

const scale = Number(process.env.BENCH_SPIKE_SCALE ?? 0.4);
const lab = await runSpikeLab({
  scenario: "jan15",
  configs: ["naive", "spillway"],
  sweep: true,
  durationScale: scale,
  md: new URL("./results/spike.md", import.meta.url).pathname,
  progress: process.stderr.isTTY,
  ports: freePort,
});
report("spike", lab.goals, {
  scenario: lab.scenario,
  durationScale: scale,
  cores: availableParallelism(),
  budget: lab.budget,
  runs: lab.runs.map((r) => ({ config: r.config, headline: r.headline, series: r.series })),
});
