export { type AimdConfig, AimdLimit } from "./aimd-limit.js";
export { FixedLimit } from "./fixed-limit.js";
export { type Gradient2Config, Gradient2Limit } from "./gradient2-limit.js";
export {
  clamp,
  type LimitAlgorithm,
  type LimitBounds,
  type LimitSample,
} from "./limit-algorithm.js";
export { type VegasConfig, VegasLimit } from "./vegas-limit.js";
