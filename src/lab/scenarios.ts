/** One stretch of the load profile at a steady offered rate. */
export interface Phase {
  name: "warmup" | "baseline" | "spike" | "recovery";
  seconds: number;
  /** Offered requests per second. */
  rate: number;
  /** Open connections (autocannon is closed-loop per connection: enough must exist to offer the rate). */
  connections: number;
}

export type Fault =
  | { kind: "none" }
  | { kind: "slow-query" }
  | { kind: "net-latency"; latencyMs: number }
  | { kind: "db-restart"; atSpikeSecond: number; downSeconds: number };

export interface Scenario {
  name: string;
  description: string;
  phases: Phase[];
  fault: Fault;
}

/** Share of requests per route: the traffic of a login service in the morning. */
export const routeMix = { session: 0.8, login: 0.15, register: 0.05 } as const;
export type Route = keyof typeof routeMix;

const baseRate = 150;

function profile(scale: number): Phase[] {
  const s = (seconds: number) => Math.max(1, Math.round(seconds * scale));
  return [
    { name: "warmup", seconds: s(5), rate: baseRate, connections: 20 },
    { name: "baseline", seconds: s(15), rate: baseRate, connections: 20 },
    { name: "spike", seconds: s(30), rate: baseRate * 10, connections: 400 },
    { name: "recovery", seconds: s(20), rate: baseRate, connections: 20 },
  ];
}

/** The scenarios; `scale` multiplies every phase's duration. */
export function scenario(name: string, scale = 1): Scenario {
  const phases = profile(scale);
  switch (name) {
    case "jan15":
      return {
        name,
        description: "baseline, a sudden 10x spike held for a while, then recovery",
        phases,
        fault: { kind: "none" },
      };
    case "slow-query":
      return {
        name,
        description:
          "jan15 with the email lookup's index missing (the original outage's inefficient query)",
        phases,
        fault: { kind: "slow-query" },
      };
    case "net-latency":
      return {
        name,
        description:
          "jan15 through a TCP proxy that adds 5 ms each way between service and database",
        phases,
        fault: { kind: "net-latency", latencyMs: 5 },
      };
    case "db-restart":
      return {
        name,
        description: "jan15 with the database stopped for a few seconds mid-spike",
        phases,
        fault: {
          kind: "db-restart",
          atSpikeSecond: Math.max(1, Math.round(10 * scale)),
          downSeconds: Math.max(1, Math.round(4 * scale)),
        },
      };
    default:
      throw new Error(`unknown scenario '${name}' (jan15, slow-query, net-latency, db-restart)`);
  }
}

export const scenarioNames = ["jan15", "slow-query", "net-latency", "db-restart"] as const;
