/**
 * Samples of a Prometheus text exposition, keyed as printed:
 * `name` or `name{label="value",...}`. Comments and malformed lines are skipped.
 */
export function parseMetrics(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?)\s+(\S+)/.exec(line);
    if (!match?.[1] || match[2] === undefined) continue;
    const value = Number(match[2]);
    if (!Number.isNaN(value)) samples.set(match[1], value);
  }
  return samples;
}

/** One scrape of a service's ops listener. */
export async function scrapeMetrics(opsUrl: string, timeoutMs = 900): Promise<Map<string, number>> {
  const res = await fetch(`${opsUrl}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET ${opsUrl}/metrics: ${res.status}`);
  return parseMetrics(await res.text());
}
