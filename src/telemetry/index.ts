export { createMetrics, type MetricSources, type PoolSnapshot, poolSnapshot } from "./metrics.js";
