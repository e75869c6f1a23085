export { FaultProxy } from "./fault-proxy.js";
export { type Goal, goal, round } from "./goals.js";
export { type Headline, type LabReport, type RunReport, toMarkdown } from "./report.js";
export { scenario, scenarioNames } from "./scenarios.js";
export { runSpikeLab, type SpikeLabOptions } from "./spike-lab.js";
