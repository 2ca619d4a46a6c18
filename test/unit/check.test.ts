import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { check } from "../../src/cli/check.ts";

const dir = mkdtempSync(join(tmpdir(), "plugin-check-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const KEY = "containerd.io/nydus-prefetch";
/** Sockets and files all in the temporary folder; nothing is dialled. */
const flags = { socketAddress: join(dir, "system.sock") };
let files = 0;

function file(text: string, name = `pod-${++files}.yaml`): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function checkText(text: string, conf?: string) {
  const path = file(text);
  const result = check(path, conf === undefined ? undefined : file(conf, `c-${files}.conf`), flags);
  return { ...result, path, text: result.out.join("\n") };
}

describe("check with normalize_image_references = false", () => {
  const conf = 'syslog_socket = ""\nnormalize_image_references = false\n';
  const pod = (image: string) =>
    `annotations:\n  ${KEY}: '[{"image":"${image}","prefetch":"/lists/a"}]'\n`;

  test("an image that is no reference is sent as written, as the plugin does, with a warning",
    () => {
      const result = checkText(pod("NGINX!!"), conf);
      expect(result.code).toBe(0);
      expect(result.out).toEqual([
        `${result.path}: ok; would send PUT /api/v1/prefetch to ${flags.socketAddress} ` +
          "(43 bytes):",
        '[{"image":"NGINX!!","prefetch":"/lists/a"}]',
        'warning: element 0: image "NGINX!!" is not a valid image reference; with ' +
          "normalize_image_references = false it is sent as written, and no image containerd " +
          "records can match it",
      ]);
    });

  test("with normalisation on, the same image makes the annotation invalid", () => {
    const result = checkText(pod("NGINX!!"));
    expect(result.code).toBe(1);
    expect(result.out).toEqual([`${result.path}: annotation ${KEY}: element 0: "NGINX!!" is ` +
      "not a valid image reference"]);
  });
});
