import { isIP } from "node:net";
import { SpillwayError } from "../errors/index.js";
import { type Config, type ProxyTrust, type Setting, settings } from "./defaults.js";

export type Flags = Readonly<Record<string, string | boolean | undefined>>;

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const snake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();

/** The flag and variable names a setting answers to. */
export function settingNames(key: string): { flag: string; env: string[] } {
  const setting: Setting | undefined = (settings as Record<string, Setting>)[key];
  const env = [`SPILLWAY_${snake(key)}`];
  if (setting?.env) env.push(setting.env);
  return { flag: `--${kebab(key)}`, env };
}

/**
 * Resolves configuration once, with the precedence flag > SPILLWAY_* variable >
 * conventional variable > override > default; validates every value and
 * returns a frozen object. Throws CONFIG_INVALID naming every bad value.
 */
export function resolveConfig(
  env: NodeJS.ProcessEnv = process.env,
  flags: Flags = {},
  overrides: Partial<Config> = {},
): Config {
  const problems: string[] = [];
  const known = new Set(Object.keys(settings).map(kebab));
  for (const flag of Object.keys(flags)) {
    if (!known.has(flag)) problems.push(`unknown option --${flag}`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(settings) as [string, Setting][]) {
    const names = settingNames(key);
    const fromFlag = flags[kebab(key)];
    const envName = names.env.find((name) => env[name] !== undefined && env[name] !== "");
    const raw = fromFlag ?? (envName ? env[envName] : undefined);
    const source = fromFlag !== undefined ? names.flag : envName;
    if (raw === undefined) {
      out[key] = key in overrides ? overrides[key as keyof Config] : setting.default;
      continue;
    }
    const parsed = parseValue(setting, raw);
    if (typeof parsed === "object" && parsed !== null && "problem" in parsed) {
      problems.push(`${source}=${JSON.stringify(String(raw))}: ${parsed.problem}`);
    } else {
      out[key] = parsed;
    }
  }
  if (problems.length === 0) problems.push(...conflicts(out as Config));
  if (problems.length > 0) {
    throw new SpillwayError("CONFIG_INVALID", {
      message: `Invalid configuration:\n  ${problems.join("\n  ")}`,
      details: problems,
    });
  }
  return Object.freeze(out) as Config;
}

function parseValue(setting: Setting, raw: string | boolean): unknown {
  switch (setting.kind) {
    case "bool":
      if (raw === true || raw === "true" || raw === "1") return true;
      if (raw === false || raw === "false" || raw === "0") return false;
      return { problem: "expected true or false" };
    case "int": {
      const text = String(raw).replaceAll("_", "");
      if (!/^-?\d+$/.test(text)) return { problem: "expected a whole number" };
      const n = Number(text);
      if (n < setting.min || n > setting.max) {
        return { problem: `expected ${setting.min} to ${setting.max}` };
      }
      return n;
    }
    case "enum":
      if (typeof raw === "string" && setting.values.includes(raw)) return raw;
      return { problem: `expected one of ${setting.values.join(", ")}` };
    case "string":
      if (typeof raw !== "string") return { problem: "expected a value" };
      if (setting.pattern && !setting.pattern.test(raw))
        return { problem: `expected ${setting.patternDoc}` };
      return raw;
    case "string?":
      if (typeof raw !== "string") return { problem: "expected a value" };
      return raw;
    case "proxies":
      return parseProxies(raw);
  }
}

const proxyNames = new Set(["loopback", "linklocal", "uniquelocal"]);

/** A trustProxy value (see ProxyTrust): false, or a list of proxy addresses. */
function parseProxies(raw: string | boolean): ProxyTrust | { problem: string } {
  if (raw === false || raw === "false" || raw === "0") return false;
  if (raw === true || raw === "true") {
    return {
      problem:
        "true would believe any X-Forwarded-For a client writes; give the addresses of the proxies in front",
    };
  }
  if (/^\d+$/.test(raw)) {
    return {
      problem:
        "a number of proxies cannot tell a proxy from a client that connects directly; give the proxies' addresses",
    };
  }
  const entries = raw.split(",").map((entry) => entry.trim());
  const bad = entries.filter((entry) => {
    if (proxyNames.has(entry)) return false;
    const [address = "", prefix, ...rest] = entry.split("/");
    const family = isIP(address);
    if (family === 0 || rest.length > 0) return true;
    if (prefix === undefined) return false;
    return !/^\d+$/.test(prefix) || Number(prefix) > (family === 4 ? 32 : 128);
  });
  return bad.length === 0
    ? entries
    : {
        problem: `not an address, a CIDR range or ${[...proxyNames].join("/")}: ${bad.join(", ")}`,
      };
}

/** Values that are each valid but do not work together. */
function conflicts(config: Config): string[] {
  const problems: string[] = [];
  const flag = (key: keyof Config) => `${settingNames(key).flag} ${config[key]}`;
  if (/^__(Host|Secure)-/i.test(config.cookieName) && !config.cookieSecure)
    problems.push(
      `${flag("cookieName")} needs ${settingNames("cookieSecure").flag}: browsers drop a prefixed cookie that is not Secure`,
    );
  if (config.sessionRenewAfterSeconds >= config.sessionTtlSeconds)
    problems.push(
      `${flag("sessionRenewAfterSeconds")} must be below ${flag("sessionTtlSeconds")}: sessions would end before they slide`,
    );
  return problems;
}
