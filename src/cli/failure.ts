import { readFileSync } from "node:fs";

/**
 * A command that cannot be carried out (exit 1), though its command line is
 * fine: a file that cannot be read, a path of the wrong kind. The message
 * names the path and what is wrong with it.
 */
export class CommandError extends Error {
  override name = "CommandError";
}

/** Errno codes in the words an operator reads them in. */
const REASONS: Record<string, string> = {
  ENOENT: "no such file",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EISDIR: "it is a folder, not a file",
  ERR_FS_EISDIR: "it is a folder, not a file",
  ENOTDIR: "a part of the path is not a folder",
  ELOOP: "too many symbolic links",
  ENAMETOOLONG: "the path is too long",
  EROFS: "the file system is read-only",
  ENOSPC: "no space left on the device",
  EEXIST: "something already exists there",
  EBUSY: "it is in use",
  ENXIO: "nothing is there to read from",
};

/** Why a file operation failed, without Node's errno prefix and quoting. */
export function fileProblem(error: unknown): string {
  const { code, message } = (error ?? {}) as NodeJS.ErrnoException;
  if (code && REASONS[code]) return REASONS[code];
  return code ? `${code} (${message})` : String(message ?? error);
}

/**
 * Reads a file the operator named ("-" is stdin); `what` says what it is for
 * ("pod file", ".conf"), so a failure reads "cannot read pod file x: no such file".
 */
export function readNamedFile(path: string, what: string): string {
  try {
    return path === "-" ? readFileSync(0, "utf8") : readFileSync(path, "utf8");
  } catch (error) {
    const where = path === "-" ? "from stdin" : path;
    throw new CommandError(`cannot read ${what} ${where}: ${fileProblem(error)}`);
  }
}

/**
 * A file-system error nothing else explained: "cannot mkdir /opt/nri/plugins:
 * permission denied". Undefined when `error` is not one.
 */
export function fileErrorText(error: unknown): string | undefined {
  const { code, syscall, path } = (error ?? {}) as NodeJS.ErrnoException;
  if (typeof code !== "string" || !syscall) return undefined;
  return `cannot ${syscall}${path ? ` ${path}` : ""}: ${fileProblem(error)}`;
}
