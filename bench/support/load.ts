import autocannon from "autocannon";
import { round } from "./results.js";

export interface Load {
  /** 2xx answers per second. */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
}

/** One closed-loop autocannon run in a worker thread (off the server's event loop). */
export async function load(seconds: number, options: autocannon.Options): Promise<Load> {
  const result = await autocannon({ duration: seconds, workers: 1, ...options });
  return {
    // Answers that did the work: a fast 503 is not a login.
    rps: round(result["2xx"] / result.duration, 1),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
}

/**
 * Requests that log in as each of `emails` in turn. Static, so autocannon
 * builds each request once and only cycles through them: the load generator
 * shares the cores with the service, and rebuilding a request per login
 * (setupRequest) cost it CPU the benchmarks would charge to the service.
 * Every connection walks the list from the start. Given `cookies` (one per
 * email: its device cookie), each login sends its account's, as a browser
 * returning to the service does.
 */
export function loginRotation(
  emails: readonly string[],
  password: string,
  cookies?: readonly string[],
): autocannon.Request[] {
  return emails.map((email, i) => ({
    body: JSON.stringify({ email, password }),
    ...(cookies?.[i] ? { headers: { cookie: cookies[i] } } : {}),
  }));
}
