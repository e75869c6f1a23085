export { type AnsweredRequest, HttpRequestMetrics } from "./http-metrics.js";
export { createMetrics, type MetricSources, type PoolSnapshot, poolSnapshot } from "./metrics.js";
