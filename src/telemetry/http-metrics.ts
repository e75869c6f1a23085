import { Histogram } from "prom-client";

/** One answered request, as the HTTP layer saw it. */
export interface AnsweredRequest {
  method: string;
  /** The matched route's template (`/v1/sessions/:id`); undefined when no route matched. */
  route: string | undefined;
  status: number;
  /** The error code of a 5xx answer's body, when it has one. */
  errorCode: string | undefined;
  seconds: number;
}

type Labels = Partial<
  Record<
    "http_request_method" | "http_route" | "http_response_status_code" | "error_type",
    string | number
  >
>;

/** OpenTelemetry's well-known methods; any other is counted as `_OTHER`. */
const knownMethods = new Set([
  "CONNECT",
  "DELETE",
  "GET",
  "HEAD",
  "OPTIONS",
  "PATCH",
  "POST",
  "PUT",
  "TRACE",
]);

/**
 * OpenTelemetry's `http.server.request.duration`: every answer of the public
 * listener by method, route template and status. A 5xx also carries
 * `error_type`, the error code of its body (`POOL_SATURATED`,
 * `HASH_SATURATED`, `DB_UNAVAILABLE`, `INTERNAL`...), so a dashboard tells
 * a shed from a database that is down, and either from a fault.
 * Labels never hold a path as sent: only a matched route's template, so no
 * token or address in a URL becomes a series.
 */
export class HttpRequestMetrics {
  readonly duration = new Histogram({
    name: "http_server_request_duration_seconds",
    help: "Duration of HTTP requests answered by the public listener (OpenTelemetry http.server.request.duration).",
    labelNames: [
      "http_request_method",
      "http_route",
      "http_response_status_code",
      "error_type",
    ] as const,
    // OpenTelemetry's advised boundaries for this metric.
    buckets: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10],
    registers: [],
  });

  observe({ method, route, status, errorCode, seconds }: AnsweredRequest): void {
    const http_request_method = knownMethods.has(method) ? method : "_OTHER";
    // In the labels' order, as the exposition prints them.
    const labels: Labels =
      route === undefined
        ? { http_request_method, http_response_status_code: status }
        : { http_request_method, http_route: route, http_response_status_code: status };
    if (status >= 500) labels.error_type = errorCode ?? String(status);
    this.duration.observe(labels, seconds);
  }
}
