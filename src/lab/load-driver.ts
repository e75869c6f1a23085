import autocannon from "autocannon";
import { LoopDelay } from "../util/index.js";
import { type Phase, type Route, routeMix } from "./scenarios.js";
import { type LabApi, spillwayApi } from "./target-api.js";

/** What one second of the run looked like from the clients' side. */
export interface SecondStats {
  second: number;
  phase: Phase["name"];
  offered: number;
  ok: number;
  /** 2xx answered within 500 ms. */
  goodput: number;
  shed: number;
  otherErrors: number;
  /** Errors other than 503 by kind: the HTTP status, "socket" or "timeout". */
  otherByKind: Record<string, number>;
  over5s: number;
  /** Latencies in ms of this second's responses, per route. */
  latencies: Record<Route, number[]>;
  /** 503 latencies in ms. */
  shedLatencies: number[];
  /** 503 sheds per route. */
  shedByRoute: Record<Route, number>;
  /** 503 sheds per error code (HASH_SATURATED, POOL_SATURATED, ...). */
  shedByCode: Record<string, number>;
  /**
   * p99 delay of the load generator's own event loop in this second, ms: it
   * shares the machine, and every latency above includes it.
   */
  clientLagP99Ms: number;
}

export interface DriverInput {
  baseUrl: string;
  /** How to speak to the service; Spillway's API by default. */
  api?: LabApi;
  phases: Phase[];
  /** Session credentials for the session checks. */
  tokens: readonly string[];
  /** Existing accounts for the logins (all with `password`). */
  emails: readonly string[];
  password: string;
  runId: string;
  /** Called once per second with the second's index (for samplers and faults). */
  onSecond?: (second: number, phase: Phase["name"]) => void;
  /** Called as each phase starts (progress). */
  onPhase?: (phase: Phase, index: number) => void;
}

export interface DriverResult {
  seconds: SecondStats[];
  /** Emails whose registration was acknowledged with 201. */
  acknowledgedEmails: string[];
}

interface Context {
  route?: Route;
}

/** Waves per phase, started 1/spreadWaves s apart. */
const spreadWaves = 20;

function countOther(s: SecondStats, kind: string, n = 1): void {
  if (n <= 0) return;
  s.otherErrors += n;
  s.otherByKind[kind] = (s.otherByKind[kind] ?? 0) + n;
}

/** The w-th of n near-equal integer shares of total. */
function share(total: number, n: number, w: number): number {
  return Math.floor(total / n) + (w < total % n ? 1 : 0);
}

function pick(random: number): Route {
  let acc = 0;
  for (const [route, share] of Object.entries(routeMix) as [Route, number][]) {
    acc += share;
    if (random < acc) return route;
  }
  return "session";
}

/**
 * Drives the phases with autocannon from this process, one phase after the
 * other, and buckets every response by the second it completed in.
 */
export async function drive(input: DriverInput): Promise<DriverResult> {
  const api = input.api ?? spillwayApi;
  const seconds: SecondStats[] = [];
  const acknowledged: string[] = [];
  const startedAt = performance.now();
  let phaseName: Phase["name"] = "warmup";
  let registered = 0;
  const loopDelay = new LoopDelay();
  let phaseStartedAt = startedAt;
  let phaseFirstBucket = 0;
  // Buckets are seconds since the phase began, so no bucket mixes two phases.
  const bucket = (now = performance.now()): SecondStats => {
    const second = phaseFirstBucket + Math.floor((now - phaseStartedAt) / 1000);
    while (seconds.length <= second) {
      seconds.push({
        second: seconds.length,
        phase: phaseName,
        offered: 0,
        ok: 0,
        goodput: 0,
        shed: 0,
        otherErrors: 0,
        otherByKind: {},
        over5s: 0,
        latencies: { session: [], login: [], register: [] },
        shedLatencies: [],
        shedByRoute: { session: 0, login: 0, register: 0 },
        shedByCode: {},
        clientLagP99Ms: 0,
      });
      const previous = seconds[seconds.length - 2];
      if (previous) previous.clientLagP99Ms = loopDelay.percentileMs(99);
      loopDelay.reset();
      input.onSecond?.(seconds.length - 1, phaseName);
    }
    return seconds[second] as SecondStats;
  };
  /** One autocannon run of the phase's shape; resolves with its result. */
  const wave = (shape: { connections: number; overallRate: number; duration: number }) => {
    let finish: (value: autocannon.Result) => void = () => {};
    let fail: (err: unknown) => void = () => {};
    const done = new Promise<autocannon.Result>((resolve, reject) => {
      finish = resolve;
      fail = reject;
    });
    const instance = autocannon(
      {
        url: input.baseUrl,
        ...shape,
        timeout: 10,
        requests: [
          {
            setupRequest: (request, context: Context) => {
              const route = pick(Math.random());
              context.route = route;
              bucket().offered++;
              const next =
                route === "session"
                  ? api.session(input.tokens[Math.floor(Math.random() * input.tokens.length)] ?? "")
                  : route === "login"
                    ? api.login(
                        input.emails[Math.floor(Math.random() * input.emails.length)] ?? "",
                        input.password,
                      )
                    : api.register(`${input.runId}-${registered++}@lab.example`, input.password);
              return { ...request, ...next };
            },
            onResponse: (status, body, context: Context) => {
              if (status === 503) {
                const code = /"code":"([A-Z_]+)"/.exec(body)?.[1] ?? "UNKNOWN";
                const b = bucket();
                b.shedByCode[code] = (b.shedByCode[code] ?? 0) + 1;
              }
              if (context.route === "register" && status >= 200 && status < 300) {
                const email = /"email":"([^"]+)"/.exec(body)?.[1];
                if (email) acknowledged.push(email);
              }
            },
          },
        ],
      },
      (err, result) => (err ? fail(err) : finish(result)),
    );
    instance.on(
      "response",
      (client: unknown, status: number, _bytes: number, durationMs: number) => {
        const route =
          ((client as unknown as { requestIterator?: { context?: Context } }).requestIterator
            ?.context?.route as Route) ?? "session";
        const s = bucket();
        if (durationMs > 5000) s.over5s++;
        if (status >= 200 && status < 300) {
          s.ok++;
          if (durationMs <= 500) s.goodput++;
          s.latencies[route].push(durationMs);
        } else if (status === 503) {
          s.shed++;
          s.shedByRoute[route]++;
          s.shedLatencies.push(durationMs);
        } else {
          countOther(s, String(status));
          s.latencies[route].push(durationMs);
        }
      },
    );
    instance.on("reqError", () => countOther(bucket(), "socket"));
    return done;
  };
  const ticker = setInterval(() => bucket(), 250);

  try {
    for (const [index, phase] of input.phases.entries()) {
      phaseName = phase.name;
      phaseStartedAt = performance.now();
      phaseFirstBucket = seconds.length;
      input.onPhase?.(phase, index);
      // autocannon's rate limit sends each connection's quota back to back at
      // the top of every second, all connections together: a synchronized
      // burst, not a crowd. Staggered waves spread the same offered rate
      // over the second.
      const waves = Math.min(spreadWaves, phase.rate, phase.connections);
      const results = await Promise.all(
        Array.from({ length: waves }, async (_, w) => {
          await new Promise((r) => setTimeout(r, (w * 1000) / waves));
          return wave({
            connections: share(phase.connections, waves, w),
            overallRate: share(phase.rate, waves, w),
            duration: phase.seconds,
          });
        }),
      );
      const timeouts = results.reduce((n, r) => n + r.timeouts, 0);
      // Requests the client gave up on (its 10 s timeout) count as errors, and as over 5 s.
      const last = bucket();
      countOther(last, "timeout", timeouts);
      last.over5s += timeouts;
    }
  } finally {
    clearInterval(ticker);
    loopDelay.stop();
  }
  return { seconds, acknowledgedEmails: acknowledged };
}
