import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CommandError, fileErrorText, fileProblem, readNamedFile } from "../../src/cli/failure.ts";

const dir = mkdtempSync(join(tmpdir(), "plugin-failure-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An errno error as node:fs throws it. */
function errno(code: string, syscall?: string, path?: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: raw text, ${syscall} '${path}'`),
    { code, syscall, path });
}

function readError(path: string, what: string): CommandError {
  try {
    readNamedFile(path, what);
  } catch (error) {
    expect(error).toBeInstanceOf(CommandError);
    return error as CommandError;
  }
  throw new Error(`${path} was read`);
}

describe("readNamedFile", () => {
  test("reads a file", () => {
    writeFileSync(join(dir, "pod.yaml"), "a: 1\n");
    expect(readNamedFile(join(dir, "pod.yaml"), "pod file")).toBe("a: 1\n");
  });

  test("a missing file is named, with no errno text", () => {
    const path = join(dir, "missing.yaml");
    expect(readError(path, "pod file").message).toBe(`cannot read pod file ${path}: no such file`);
  });

  test("a folder is named and called one", () => {
    expect(readError(dir, ".conf").message)
      .toBe(`cannot read .conf ${dir}: it is a folder, not a file`);
  });

  test("a path through a file says a part of it is not a folder", () => {
    writeFileSync(join(dir, "plain"), "");
    expect(readError(join(dir, "plain/x.conf"), ".conf").message)
      .toEndWith(": a part of the path is not a folder");
  });
});

describe("fileProblem", () => {
  test("puts the common errno codes in words", () => {
    expect(fileProblem(errno("ENOENT"))).toBe("no such file");
    expect(fileProblem(errno("EACCES"))).toBe("permission denied");
    expect(fileProblem(errno("EISDIR"))).toBe("it is a folder, not a file");
    expect(fileProblem(errno("ERR_FS_EISDIR"))).toBe("it is a folder, not a file");
  });

  test("keeps the code and text of one it does not know", () => {
    expect(fileProblem(errno("EWEIRD", "open", "/x"))).toBe("EWEIRD (EWEIRD: raw text, open '/x')");
  });
});

describe("fileErrorText", () => {
  test("names the operation and the path", () => {
    expect(fileErrorText(errno("EACCES", "mkdir", "/tmp/x/plugins")))
      .toBe("cannot mkdir /tmp/x/plugins: permission denied");
  });

  test("is undefined for an error that is not a file-system one", () => {
    expect(fileErrorText(new Error("boom"))).toBeUndefined();
    expect(fileErrorText(undefined)).toBeUndefined();
  });
});
