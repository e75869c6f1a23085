import { type Setting, settingNames, settings } from "../config/index.js";

/** The `spillway --help` text, listing every setting with its flag, variable and default. */
export function usage(): string {
  const lines = [
    "Usage: spillway <command> [options]",
    "",
    "Commands:",
    "  serve     run the service (embedded PostgreSQL unless DATABASE_URL is set)",
    "  migrate   apply database migrations and exit",
    "  lab spike replay the outage: a seeded database, a 10x spike, naive vs Spillway",
    "            options: --scenario, --config (repeatable), --sweep, --duration-scale, --users, --md, --json",
    "",
    "Options (flag, then environment variable; flags win):",
  ];
  for (const [key, setting] of Object.entries(settings) as [string, Setting][]) {
    const names = settingNames(key);
    const value = setting.kind === "bool" ? "" : " <value>";
    lines.push(`  ${names.flag}${value}`);
    lines.push(
      `      ${setting.doc}; ${names.env.join(" or ")}; default ${String(setting.default)}`,
    );
  }
  lines.push("", "  -h, --help      show this help", "  -v, --version   show the version");
  return lines.join("\n");
}
