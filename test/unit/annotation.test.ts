import { describe, expect, test } from "bun:test";
import { PREFETCH_KEY, SAMPLE_VALUE, samplePod } from "../support/sample-pod.ts";
import { AnnotationError, parsePrefetchList } from "../../src/prefetch/annotation.ts";

function parseError(value: string): AnnotationError {
  try {
    parsePrefetchList(value);
  } catch (error) {
    expect(error).toBeInstanceOf(AnnotationError);
    return error as AnnotationError;
  }
  throw new Error(`${JSON.stringify(value)} was accepted`);
}

test("SAMPLE_VALUE is the fixture pod's annotation as its YAML block yields it", async () => {
  expect((await samplePod()).annotations![PREFETCH_KEY]).toBe(SAMPLE_VALUE);
});

describe("parsePrefetchList", () => {
  test("parses the documentation's multi-line sample value", () => {
    expect(parsePrefetchList(SAMPLE_VALUE)).toEqual([{
      image: "ghcr.io/dragonflyoss/image-service/wordpress:nydus-nightly-v6",
      prefetch: "http://example.com/api/v1/resource/wordpress",
      fields: {
        image: "ghcr.io/dragonflyoss/image-service/wordpress:nydus-nightly-v6",
        prefetch: "http://example.com/api/v1/resource/wordpress",
      },
    }]);
  });

  test("parses several entries in order", () => {
    const entries = parsePrefetchList(
      '[{"image":"a.io/x:1","prefetch":"/p/x"},{"image":"b.io/y:2","prefetch":"/p/y"}]',
    );
    expect(entries.map((entry) => entry.image)).toEqual(["a.io/x:1", "b.io/y:2"]);
  });

  test("rejects a value that is not JSON", () => {
    expect(parseError("not json").message).toStartWith("not valid JSON");
  });

  test("rejects a top-level object", () => {
    expect(parseError('{"image":"a","prefetch":"b"}').message)
      .toBe("must be a JSON array of objects, got an object");
  });

  test("rejects a top-level null", () => {
    expect(parseError("null").message).toBe("must be a JSON array of objects, got null");
  });

  test("rejects a top-level string", () => {
    expect(parseError('"[]"').message).toBe("must be a JSON array of objects, got a string");
  });

  test("accepts an empty list as asking for nothing", () => {
    expect(parsePrefetchList("[]")).toEqual([]);
  });

  test("rejects an element that is not an object, naming its index", () => {
    expect(parseError('[{"image":"a","prefetch":"b"}, "x"]').message)
      .toBe("element 1 must be an object, got a string");
  });

  test("rejects an element that is an array", () => {
    expect(parseError("[[]]").message).toBe("element 0 must be an object, got an array");
  });

  test("rejects a number value, naming the element and key", () => {
    expect(parseError('[{"image":"a","prefetch":"b","weight":3}]').message)
      .toBe('element 0: "weight" must be a string, got a number');
  });

  test("rejects a null value, naming the element and key", () => {
    expect(parseError('[{"image":"a","prefetch":null}]').message)
      .toBe('element 0: "prefetch" must be a string, got null');
  });

  test("rejects a nested object value, naming the element and key", () => {
    const value = '[{"image":"a","prefetch":"b"},{"image":{"name":"a"},"prefetch":"b"}]';
    expect(parseError(value).message).toBe('element 1: "image" must be a string, got an object');
  });

  test("rejects a missing image", () => {
    expect(parseError('[{"prefetch":"b"}]').message).toBe('element 0: "image" is missing or empty');
  });

  test("rejects an empty image", () => {
    expect(parseError('[{"image":"","prefetch":"b"}]').message)
      .toBe('element 0: "image" is missing or empty');
  });

  test("rejects a missing prefetch", () => {
    expect(parseError('[{"image":"a"}]').message).toBe('element 0: "prefetch" is missing or empty');
  });

  test("rejects an empty prefetch", () => {
    expect(parseError('[{"image":"a","prefetch":""}]').message)
      .toBe('element 0: "prefetch" is missing or empty');
  });

  test("keeps extra string fields in fields", () => {
    const [entry] = parsePrefetchList('[{"image":"a","prefetch":"b","note":"warm"}]');
    expect(entry!.fields).toEqual({ image: "a", prefetch: "b", note: "warm" });
  });
});
