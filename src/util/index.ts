export { type Clock, ManualClock, systemClock } from "./clock.js";
export { freePort } from "./free-port.js";
export { jitter } from "./jitter.js";
export { LoopDelay } from "./loop-delay.js";
