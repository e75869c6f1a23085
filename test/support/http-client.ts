export interface CallOptions {
  json?: unknown;
  body?: string | Buffer | URLSearchParams;
  token?: string;
  cookie?: string;
  headers?: Record<string, string>;
}

export interface CallResult {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON
  json: any;
}

/** One real HTTP request to the service. */
export async function call(
  baseUrl: string,
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<CallResult> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | Buffer | URLSearchParams | undefined = options.body;
  if (options.json !== undefined) {
    headers["content-type"] ??= "application/json";
    body = JSON.stringify(options.json);
  }
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.cookie) headers.cookie = options.cookie;
  const init: RequestInit = { method, headers, redirect: "manual" };
  if (body !== undefined) init.body = body as NonNullable<RequestInit["body"]>;
  const response = await fetch(new URL(path, baseUrl), init);
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

let counter = 0;
/** A unique email per call. */
export function uniqueEmail(prefix = "user"): string {
  counter++;
  return `${prefix}.${process.pid}.${Date.now()}.${counter}@example.com`;
}

export const strongPassword = "violet-harbour-tractor-89";
