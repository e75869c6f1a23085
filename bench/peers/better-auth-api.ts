import type { LabApi, LabRequest } from "../../src/lab/target-api.js";

/** How the lab speaks to Better Auth: its email-and-password routes and its session cookie. */
export function betterAuthApi(baseUrl: string): LabApi {
  // Better Auth refuses cookie-bearing POSTs without a trusted Origin.
  const post = (path: string, body: unknown): LabRequest => ({
    method: "POST",
    path,
    headers: { "content-type": "application/json", origin: baseUrl },
    body: JSON.stringify(body),
  });
  return {
    session: (cookie) => ({ method: "GET", path: "/api/auth/get-session", headers: { cookie } }),
    login: (email, password) => post("/api/auth/sign-in/email", { email, password }),
    register: (email, password) =>
      post("/api/auth/sign-up/email", { email, password, name: "Lab" }),
    credential: (response) =>
      response.headers
        .getSetCookie()
        .map((c) => c.split(";")[0] ?? "")
        .find((c) => c.startsWith("better-auth.session_token=")),
  };
}
