export { createOpsServer, listeningUrl, type OpsServerDeps } from "./ops-server.js";
