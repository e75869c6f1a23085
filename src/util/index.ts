export { type Clock, ManualClock, systemClock } from "./clock.js";
export { jitter } from "./jitter.js";
