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

describe("check: a document of an odd shape is named, never a crash (exit 1)", () => {
  for (const [what, text, message] of [
    ["a null item of a List", "kind: List\nitems:\n- null\n",
      " (items[0]): empty (null), where a pod config or Kubernetes object (a mapping) belongs"],
    ["a number at the top", "42\n", ": a number (42), where a pod config"],
    ["a string at the top", '"pod"\n', ': a string ("pod"), where a pod config'],
    ["a list at the top", "- a: 1\n- b: 2\n", ": a list, where a pod config"],
    ["a JSON list at the top", '[{"annotations": {}}]', ": a list, where a pod config"],
    ["items that are a number", "kind: List\nitems: 5\n", ": items is a number (5), not a list"],
    ["items that are a mapping", "kind: List\nitems: {a: 1}\n",
      ": items is a mapping, not a list"],
    ["an empty file", "", ": no document (the file is empty, or holds only comments or null)"],
    ["only comments", "# nothing\n", ": no document"],
    ["null", "null\n", ": no document"],
    ["only empty documents", "---\n---\n", ": no document"],
    ["metadata that is a number", "metadata: 5\n", ": .metadata is a number (5), not a mapping"],
    ["annotations that are a list", "annotations: [a]\n",
      ": .annotations is a list, not a mapping"],
  ] as const) {
    test(what, () => {
      const result = checkText(text);
      expect(result.code).toBe(1);
      expect(result.out[0]).toStartWith(`${result.path}${message}`);
    });
  }

  test("a stream names the document and item; the others are still checked", () => {
    const pod = `apiVersion: v1\nkind: Pod\nmetadata:\n  annotations:\n    ${KEY}: '[]'\n`;
    const result = checkText(`kind: Service\n---\n- 1\n---\nkind: List\nitems: [null, 3]\n---\n` +
      pod);
    expect(result.code).toBe(1);
    expect(result.out).toEqual([
      `${result.path} (document 2): a list, where a pod config or Kubernetes object (a mapping) ` +
        "belongs",
      `${result.path} (document 3, items[0]): empty (null), where a pod config or Kubernetes ` +
        "object (a mapping) belongs",
      `${result.path} (document 3, items[1]): a number (3), where a pod config or Kubernetes ` +
        "object (a mapping) belongs",
      `${result.path} (document 4): empty list; nothing is sent`,
    ]);
  });

  test("an empty document of a stream (a trailing ---) is passed over", () => {
    const result = checkText(`annotations:\n  ${KEY}: '[]'\n---\n`);
    expect(result.code).toBe(0);
    expect(result.out).toEqual([`${result.path} (document 1): empty list; nothing is sent`]);
  });

  test("a single document that starts with --- is not a stream", () => {
    const result = checkText("---\n- 1\n");
    expect(result.out).toEqual([`${result.path}: a list, where a pod config or Kubernetes ` +
      "object (a mapping) belongs"]);
  });

  test("a List item without the annotation next to a bad one: both are said", () => {
    const result = checkText("kind: List\nitems:\n- null\n- metadata: {name: a}\n");
    expect(result.code).toBe(1);
    expect(result.text).toContain("(items[0]): empty (null)");
    expect(result.text).toContain(`${result.path}: no ${KEY} annotation`);
  });
});

describe("check looks for the annotation in every place and uses the one that has it", () => {
  const value = '[{"image":"docker.io/library/nginx:latest","prefetch":"/lists/nginx"}]';

  test("a Deployment with its own annotations and the key only in the pod template", () => {
    const result = checkText("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n" +
      '  annotations:\n    deployment.kubernetes.io/revision: "1"\nspec:\n  template:\n' +
      `    metadata:\n      annotations:\n        ${KEY}: '${value}'\n`);
    expect(result.code).toBe(0);
    expect(result.out).toEqual([
      `${result.path}: ok; would send PUT /api/v1/prefetch to ${flags.socketAddress} ` +
        `(${value.length} bytes):`,
      value,
    ]);
  });

  test("other annotations at the top and the key only in metadata.annotations", () => {
    const result = checkText(`annotations:\n  team: web\nmetadata:\n  name: p\n  annotations:\n` +
      `    ${KEY}: '[]'\n`);
    expect(result.code).toBe(0);
    expect(result.out).toEqual([`${result.path}: empty list; nothing is sent`]);
  });

  test("a Deployment carrying two different values: the template's is used, with a warning",
    () => {
      const result = checkText(`apiVersion: apps/v1\nkind: Deployment\nmetadata:\n` +
        `  annotations:\n    ${KEY}: '[1]'\nspec:\n  template:\n    metadata:\n` +
        `      annotations:\n        ${KEY}: '[]'\n`);
      expect(result.code).toBe(0);
      expect(result.out).toEqual([
        `warning: ${result.path}: ${KEY} is in .spec.template.metadata.annotations and in ` +
          ".metadata.annotations with different values; the one in " +
          ".spec.template.metadata.annotations is checked (what the pods it creates carry)",
        `${result.path}: empty list; nothing is sent`,
      ]);
    });

  test("a Pod manifest carrying two different values: metadata's is used, with a warning", () => {
    const result = checkText(`apiVersion: v1\nkind: Pod\nannotations:\n  ${KEY}: '[]'\n` +
      `metadata:\n  annotations:\n    ${KEY}: '[1]'\n`);
    expect(result.code).toBe(1);
    expect(result.out[0]).toBe(`warning: ${result.path}: ${KEY} is in .metadata.annotations ` +
      "and in .annotations with different values; the one in .metadata.annotations is " +
      "checked (the pod's own annotations)");
    expect(result.text).toContain("annotation containerd.io/nydus-prefetch: element 0");
  });

  test("a crictl pod config carrying two different values: the top-level one is used", () => {
    const result = checkText(`metadata:\n  annotations:\n    ${KEY}: '[1]'\n` +
      `annotations:\n  ${KEY}: '[]'\n`);
    expect(result.code).toBe(0);
    expect(result.out[0]).toContain("the one in .annotations is checked " +
      "(what crictl passes to the runtime)");
  });

  test("the same value in two places: no warning", () => {
    const result = checkText(`apiVersion: v1\nkind: Pod\nannotations:\n  ${KEY}: '[]'\n` +
      `metadata:\n  annotations:\n    ${KEY}: '[]'\n`);
    expect(result.code).toBe(0);
    expect(result.out).toEqual([`${result.path}: empty list; nothing is sent`]);
  });
});

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

test("a YAML syntax error names the file", () => {
  const result = checkText("a: [1,\nb: }\n");
  expect(result.code).toBe(1);
  expect(result.out).toEqual([`${result.path}: not valid YAML or JSON: YAML Parse error: ` +
    "Unexpected token"]);
});
