import { parseArgs } from "node:util";
import { type Flags, settings } from "../config/index.js";

export interface ParsedCommand {
  command: string | undefined;
  flags: Flags;
  help: boolean;
  version: boolean;
}

/** `spillway <command> [--setting value ...]`; unknown options are reported by resolveConfig. */
export function parseCommand(argv: readonly string[]): ParsedCommand {
  const { values, positionals } = parseArgs({
    args: [...argv],
    strict: false,
    allowPositionals: true,
    options: {
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "v" },
      ...Object.fromEntries(
        Object.entries(settings).map(([key, s]) => [
          key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`),
          { type: s.kind === "bool" ? ("boolean" as const) : ("string" as const) },
        ]),
      ),
    },
  });
  const { help, version, ...flags } = values;
  return { command: positionals[0], flags, help: help === true, version: version === true };
}
