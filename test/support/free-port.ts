export { freePort } from "../../src/util/index.js";
