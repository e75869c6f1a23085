/** Browsers by the token that names them, the most specific first (Edge and Opera say Chrome too). */
const browsers: [pattern: RegExp, name: string][] = [
  [/\bEdg(?:e|A|iOS)?\//, "Edge"],
  [/\bOPR\//, "Opera"],
  [/\b(?:Firefox|FxiOS)\//, "Firefox"],
  [/\bHeadlessChrome\//, "Headless Chrome"],
  [/\b(?:Chrome|CriOS)\//, "Chrome"],
  [/\bVersion\/[\d.]+.*\bSafari\//, "Safari"],
];

/** Systems by their token, the most specific first (Android says Linux, iOS says Mac OS X). */
const systems: [pattern: RegExp, name: string][] = [
  [/\bWindows\b/, "Windows"],
  [/\biPhone\b/, "iPhone"],
  [/\biPad\b/, "iPad"],
  [/\bAndroid\b/, "Android"],
  [/\bCrOS\b/, "ChromeOS"],
  [/\bMac OS X\b/, "macOS"],
  [/\bLinux\b/, "Linux"],
];

const firstMatch = (userAgent: string, table: [RegExp, string][]) =>
  table.find(([pattern]) => pattern.test(userAgent))?.[1];

/**
 * A session's device as a person would name it ("Firefox on Windows"), from
 * its User-Agent. Anything else is named by its first product token
 * ("curl/8.5.0"): a made-up agent is shown, never guessed at.
 */
export function deviceName(userAgent: string | null): string {
  if (userAgent === null || userAgent.trim() === "") return "unknown device";
  const browser = firstMatch(userAgent, browsers);
  const system = firstMatch(userAgent, systems);
  if (browser && system) return `${browser} on ${system}`;
  if (browser ?? system) return (browser ?? system) as string;
  const product = userAgent.trim().split(/\s+/)[0] ?? "";
  return product.length > 60 ? `${product.slice(0, 59)}…` : product;
}
