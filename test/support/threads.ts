import { readdirSync, readFileSync } from "node:fs";

/** Nice value of each thread of a process (Linux: field 19 of /proc/<pid>/task/<tid>/stat). */
export function threadNices(pid: number | "self" = "self"): Map<string, number> {
  const nices = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    // The command name (in parentheses) may hold spaces: count fields after it.
    nices.set(tid, Number(stat.slice(stat.lastIndexOf(") ") + 2).split(" ")[16]));
  }
  return nices;
}
