import { describe, expect, test } from "bun:test";
import { findDuplicateKeys } from "../../src/cli/duplicate-keys.ts";

/** The repeats as "path key line/first" strings, short to compare. */
function repeats(text: string): string[] {
  return findDuplicateKeys(text).map(({ key, path, line, firstLine }) =>
    `${path || "<top>"} ${key} ${line}/${firstLine}`);
}

describe("what the YAML reader does with a repeated key", () => {
  test("Bun.YAML keeps the last value without an error: the reason check warns", () => {
    expect(Bun.YAML.parse("a:\n  x: 1\na:\n  y: 2\n")).toEqual({ a: { y: 2 } });
    expect(Bun.YAML.parse('{"a": 1, "a": 2}')).toEqual({ a: 2 });
  });
});

describe("findDuplicateKeys", () => {
  test("two annotations maps in metadata", () => {
    const text = "metadata:\n  annotations:\n    a: '1'\n  name: web\n  annotations:\n    b: '2'\n";
    expect(repeats(text)).toEqual(["metadata annotations 5/2"]);
  });

  test("the annotation key twice, once quoted and once plain, is one key", () => {
    const text = "metadata:\n  annotations:\n    containerd.io/nydus-prefetch: '[]'\n" +
      '    "containerd.io/nydus-prefetch": |\n      [1]\n';
    expect(repeats(text)).toEqual(["metadata.annotations containerd.io/nydus-prefetch 4/3"]);
  });

  test("a key given three times is reported twice, each against the first", () => {
    expect(repeats("a: 1\nb: 2\na: 3\na: 4\n")).toEqual(["<top> a 3/1", "<top> a 4/1"]);
  });

  test("the same key in sibling or nested mappings is not a repeat", () => {
    const text = "metadata:\n  name: a\nspec:\n  name: b\n  template:\n    metadata:\n" +
      "      name: c\n";
    expect(repeats(text)).toEqual([]);
  });

  test("each sequence entry is its own mapping", () => {
    const text = "items:\n- name: a\n  x: 1\n- name: b\n  x: 2\n  x: 3\nother: 1\n";
    expect(repeats(text)).toEqual(["items[1] x 6/5"]);
  });

  test("a List's items, indented, with a repeat deep inside", () => {
    const text = "kind: List\nitems:\n  - kind: Pod\n    metadata:\n      annotations:\n" +
      "        k: '1'\n      annotations:\n        k: '2'\n  - kind: Pod\n    metadata:\n" +
      "      annotations:\n        k: '1'\n";
    expect(repeats(text)).toEqual(["items[0].metadata annotations 7/5"]);
  });

  test("a key after a nested sequence belongs to the mapping around it", () => {
    expect(repeats("- name: a\n  list:\n  - x: 1\n  - x: 2\n  name: b\n"))
      .toEqual(["[0] name 5/1"]);
  });

  test("documents of a stream are separate", () => {
    expect(repeats("a: 1\n---\na: 2\n---\na: 3\na: 4\n")).toEqual(["<top> a 6/5"]);
  });

  test("JSON objects, including ones inside arrays, with their lines", () => {
    const text = '{\n  "metadata": {"annotations": {"a": "1",\n "a": "2"}},\n' +
      '  "x": [ {"k":1,"k":2}, {"k":3} ]\n}';
    expect(repeats(text)).toEqual(["metadata.annotations a 3/2", "x[0] k 4/4"]);
  });

  test("YAML flow mappings inside a block mapping", () => {
    expect(repeats("metadata: {name: x, annotations: {k: 1, k: 2}}\n"))
      .toEqual(["metadata.annotations k 1/1"]);
  });

  test("text inside block, quoted and plain scalars is not read as keys", () => {
    const text = "a: |\n  a: 1\n  a: 2\nb: >-\n  b: 1\n\n  b: 2\n" +
      "c: '[ {\"image\": \"x\",\n    \"image\": \"y\"} ]'\nd: \"multi\n  d: 1\n  d: 2\"\n" +
      "e: http://x:80/y # e: 2\n# e: 3\n";
    expect(repeats(text)).toEqual([]);
  });

  test("a merge key does not make its keys repeats of the mapping's own", () => {
    expect(repeats("base: &b\n  x: 1\nother:\n  <<: *b\n  x: 2\n")).toEqual([]);
  });

  test("CRLF line ends", () => {
    expect(repeats("a: 1\r\nb: 2\r\na: 3\r\n")).toEqual(["<top> a 3/1"]);
  });

  test("keys are compared by their values: escapes and '' are decoded, plain text is not", () => {
    // "a\x41" is aA, while the plain a\x41 is those five characters: two keys.
    const distinct = 'labels:\n  "a\\x41": 1\n  a\\x41: 2\n';
    expect(Bun.YAML.parse(distinct)).toEqual({ labels: { aA: 1, "a\\x41": 2 } });
    expect(repeats(distinct)).toEqual([]);
    expect(repeats('{"a\\x41": 1, a\\x41: 2}\n')).toEqual([]);
    // The same key written three ways, block and flow.
    const same = "'it''s': 1\n\"it's\": 2\n\"it\\x27s\": 3\n";
    expect(Bun.YAML.parse(same)).toEqual({ "it's": 3 });
    expect(repeats(same)).toEqual(["<top> it's 2/1", "<top> it's 3/1"]);
    expect(repeats('{"\\u0041": 1, A: 2}')).toEqual(["<top> A 1/1"]);
  });

  test("plain keys are compared as the YAML reader resolves them", () => {
    // ~ is null while "~" is the text: two keys; 1.0 and 1 are both the number 1.
    expect(Bun.YAML.parse('"~": a\n~: b\n')).toEqual({ "~": "a", null: "b" });
    expect(repeats('"~": a\n~: b\n')).toEqual([]);
    expect(Bun.YAML.parse("1.0: a\n1: b\n")).toEqual({ 1: "b" });
    expect(repeats("1.0: a\n1: b\n")).toEqual(["<top> 1 2/1"]);
  });

  test("a block scalar whose indicator stands on a line of its own is not read as keys", () => {
    for (const [text, value] of [
      ["data:\n  script:\n    |\n    x: 1\n    x: 1\n", { data: { script: "x: 1\nx: 1\n" } }],
      ["data:\n  script: !!str # note\n    >-\n    x: 1\n    x: 1\nother: 1\n",
        { data: { script: "x: 1 x: 1" }, other: 1 }],
      ["-\n  |\n  x: 1\n  x: 1\n", ["x: 1\nx: 1\n"]],
      ["|\nx: 1\nx: 1\n", "x: 1\nx: 1\n"],
      ["--- |\nx: 1\nx: 1\n", "x: 1\nx: 1\n"],
      ["--- !!str >\nx: 1\nx: 1\n", "x: 1 x: 1\n"],
    ] as const) {
      expect(Bun.YAML.parse(text)).toEqual(value);
      expect(repeats(text)).toEqual([]);
    }
  });

  test("after a block scalar, keys are read again", () => {
    const text = "a:\n  s:\n    |\n    x: 1\n  k: 1\n  k: 2\n---\n--- |\n k: 1\n---\nk: 1\nk: 2\n";
    expect(repeats(text)).toEqual(["a k 6/5", "<top> k 12/11"]);
  });

  test("the nydus sample pod has none", async () => {
    const text = await Bun.file(`${import.meta.dir}/../fixtures/wordpress-pod.yaml`).text();
    expect(repeats(text)).toEqual([]);
  });
});
