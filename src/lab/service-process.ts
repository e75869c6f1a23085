import { type ChildProcess, spawn } from "node:child_process";

export interface ServiceProcess {
  baseUrl: string;
  /** Its ops listener (metrics), on loopback. */
  opsUrl: string;
  stop(): Promise<void>;
}

const bin = new URL("../../bin/spillway.cjs", import.meta.url).pathname;

/** Environment for a lab config: `naive`, `fixed:N` or `spillway`. */
export function configEnv(config: string): Record<string, string> {
  if (config === "spillway") return {};
  if (config === "naive") {
    // What most Node apps ship: pg.Pool of 10 that waits as long as it takes,
    // no shedding anywhere, no session cache.
    return {
      SPILLWAY_POOL_MODE: "plain",
      SPILLWAY_POOL_MAX: "10",
      SPILLWAY_POOL_ACQUIRE_TIMEOUT_MS: "120000",
      SPILLWAY_SESSION_CACHE_TTL_MS: "0",
      SPILLWAY_HASH_QUEUE_MAX: "100000",
      SPILLWAY_HASH_QUEUE_TIMEOUT_MS: "60000",
      SPILLWAY_HASH_QUEUE_TARGET_MS: "10000",
      SPILLWAY_HASH_EVENT_LOOP_LAG_LIMIT_MS: "0",
      SPILLWAY_POOL_HEADROOM: "0",
    };
  }
  const fixed = /^fixed:(\d+)$/.exec(config);
  if (fixed?.[1]) return { SPILLWAY_POOL_LIMIT: "fixed", SPILLWAY_POOL_MAX: fixed[1] };
  throw new Error(`unknown config '${config}' (naive, fixed:N, spillway)`);
}

/** `spillway serve` in its own process, as it runs in production. */
export async function startService(
  databaseUrl: string,
  ports: { http: number; ops: number },
  config: string,
): Promise<ServiceProcess> {
  // e.g. SPILLWAY_LAB_NODE_ARGS="--cpu-prof --cpu-prof-dir=prof" profiles the service under the lab's load.
  const nodeArgs = process.env.SPILLWAY_LAB_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, bin, "serve"], {
    env: {
      ...process.env,
      ...configEnv(config),
      SPILLWAY_DATABASE_URL: databaseUrl,
      DATABASE_URL: "",
      PORT: String(ports.http),
      SPILLWAY_OPS_PORT: String(ports.ops),
      SPILLWAY_OPS_HOST: "127.0.0.1",
      SPILLWAY_OPS_ENABLED: "true",
      SPILLWAY_THROTTLE_ENABLED: "false",
      SPILLWAY_LOG_LEVEL: "info",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const [baseUrl, opsUrl] = await new Promise<[string, string]>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /"url":"(http:[^"]+)","ops":"(http:[^"]+)".*spillway ready/.exec(output);
      if (match?.[1] && match[2]) resolve([match[1], match[2]]);
      if (output.length > 100_000) output = output.slice(-50_000);
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    void exited.then(() => reject(new Error(`service exited:\n${output}`)));
    setTimeout(() => reject(new Error(`service did not start:\n${output}`)), 60_000).unref();
  });
  return {
    baseUrl,
    opsUrl,
    stop: async () => {
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(killer);
    },
  };
}
