/** One request as the load driver sends it. */
export interface LabRequest {
  method: "GET" | "POST";
  path: string;
  headers: Record<string, string>;
  body?: string;
}

/** A response as seeding sees it. */
export interface LabResponse {
  status: number;
  headers: Headers;
  body: string;
}

/**
 * How the lab speaks to an auth service: the three requests of the mix, and
 * where a session credential is found in a register or login answer. The
 * lab drives Spillway with `spillwayApi`; a peer gets its own (see bench/peers).
 */
export interface LabApi {
  session(credential: string): LabRequest;
  login(email: string, password: string): LabRequest;
  register(email: string, password: string): LabRequest;
  /** The session credential in a successful register or login answer; undefined if none. */
  credential(response: LabResponse): string | undefined;
}

/**
 * How long one seeding request keeps asking while the service answers 503:
 * on a host whose other processes take the cores, a few unlucky
 * registrations were refused ten times in a row while the rest went in.
 */
const seedPatienceMs = 60_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// A fresh object per request: autocannon writes content-length into the headers it is given.
const json = () => ({ "content-type": "application/json" });

export const spillwayApi: LabApi = {
  session: (token) => ({
    method: "GET",
    path: "/v1/session",
    headers: { authorization: `Bearer ${token}` },
  }),
  login: (email, password) => ({
    method: "POST",
    path: "/v1/login",
    headers: json(),
    body: JSON.stringify({ email, password }),
  }),
  register: (email, password) => ({
    method: "POST",
    path: "/v1/register",
    headers: json(),
    body: JSON.stringify({ email, password }),
  }),
  credential: (response) => /"token":"([A-Za-z0-9_-]+)"/.exec(response.body)?.[1] ?? undefined,
};

/**
 * Accounts for a service the lab did not start: each seeded email is
 * registered through the API, or logged into when it exists from an earlier
 * run. Returns the emails and one session credential per account.
 */
export async function seedThroughApi(
  baseUrl: string,
  api: LabApi,
  emails: readonly string[],
  password: string,
  concurrency = 4,
): Promise<string[]> {
  const send = async (request: LabRequest): Promise<LabResponse> => {
    const init: RequestInit = { method: request.method, headers: request.headers };
    if (request.body !== undefined) init.body = request.body;
    const res = await fetch(new URL(request.path, baseUrl), init).catch((err: unknown) => {
      const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : err;
      throw new Error(`cannot reach ${baseUrl}: ${String(cause)}`);
    });
    return { status: res.status, headers: res.headers, body: await res.text() };
  };
  // A 503 says the service is busy and when to come back (Retry-After): a
  // fresh service sharing the machine with another one can refuse a few
  // concurrent registrations while its hashes are slow. Seeding waits and
  // asks again, as a client should; a 429 stays fatal (see below).
  const sendPatiently = async (request: LabRequest): Promise<LabResponse> => {
    const giveUpAt = performance.now() + seedPatienceMs;
    for (;;) {
      const res = await send(request);
      if (res.status !== 503 || performance.now() >= giveUpAt) return res;
      const seconds = Number(res.headers.get("retry-after"));
      await sleep(Math.min(Number.isFinite(seconds) && seconds > 0 ? seconds : 1, 5) * 1000);
    }
  };
  const credentials: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < emails.length) {
      const email = emails[next++] as string;
      const registered = await sendPatiently(api.register(email, password));
      let res = registered;
      if (res.status < 200 || res.status >= 300)
        res = await sendPatiently(api.login(email, password));
      const credential = res.status < 300 ? api.credential(res) : undefined;
      if (!credential) {
        // Both answers: a login's 401 alone hides why the registration failed.
        const answer = (r: LabResponse) => `${r.status} ${r.body.slice(0, 200)}`;
        throw new Error(
          `seeding ${email} at ${baseUrl}: registration ${answer(registered)}, then login ${answer(res)} (a target for the lab must not rate-limit its client)`,
        );
      }
      credentials.push(credential);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return credentials;
}
