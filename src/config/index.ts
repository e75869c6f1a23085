export { type Config, type Setting, settings } from "./defaults.js";
export { type Flags, resolveConfig, settingNames } from "./resolve-config.js";
