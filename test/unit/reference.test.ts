import { describe, expect, test } from "bun:test";
import { ImageReferenceError, normalizeReference } from "../../src/prefetch/reference.ts";

const DIGEST = `sha256:${"0123456789abcdef".repeat(4)}`;

describe("normalizeReference", () => {
  test("an official image name gets docker.io/library/ and :latest", () => {
    expect(normalizeReference("nginx")).toBe("docker.io/library/nginx:latest");
  });

  test("an official image keeps its tag", () => {
    expect(normalizeReference("nginx:1.25")).toBe("docker.io/library/nginx:1.25");
  });

  test("a user image gets docker.io/ but no library/", () => {
    expect(normalizeReference("user/app")).toBe("docker.io/user/app:latest");
  });

  test("docker.io/nginx gets library/", () => {
    expect(normalizeReference("docker.io/nginx")).toBe("docker.io/library/nginx:latest");
  });

  test("index.docker.io is rewritten to docker.io", () => {
    expect(normalizeReference("index.docker.io/library/nginx:latest"))
      .toBe("docker.io/library/nginx:latest");
  });

  test("a fully qualified reference is unchanged", () => {
    const reference = "ghcr.io/dragonflyoss/image-service/wordpress:nydus-nightly-v6";
    expect(normalizeReference(reference)).toBe(reference);
  });

  test("localhost is a registry, not a docker.io user", () => {
    expect(normalizeReference("localhost/app")).toBe("localhost/app:latest");
  });

  test("a registry with a port keeps the port and the tag", () => {
    expect(normalizeReference("localhost:5000/app:1")).toBe("localhost:5000/app:1");
  });

  test("a digest is kept and no :latest is added", () => {
    const reference = `registry.example.com:5000/a/b@${DIGEST}`;
    expect(normalizeReference(reference)).toBe(reference);
  });

  test("with a tag and a digest, the tag is dropped as containerd does", () => {
    expect(normalizeReference(`nginx:1.25@${DIGEST}`))
      .toBe(`docker.io/library/nginx@${DIGEST}`);
    expect(normalizeReference(`ghcr.io/o/app:1@${DIGEST}`)).toBe(`ghcr.io/o/app@${DIGEST}`);
  });

  test("a first component with capitals is a registry, as in Docker's grammar", () => {
    expect(normalizeReference("UPPER/case")).toBe("UPPER/case:latest");
  });

  for (const invalid of ["Nginx", "user/App", "has space", "", ":tag", "nginx:", "a//b"]) {
    test(`${JSON.stringify(invalid)} is rejected with ImageReferenceError`, () => {
      expect(() => normalizeReference(invalid)).toThrow(ImageReferenceError);
    });
  }

  test("the error message quotes the reference", () => {
    expect(() => normalizeReference("has space"))
      .toThrow('"has space" is not a valid image reference');
  });

  test("a name of 255 characters is kept; one of 256 is rejected", () => {
    const path = (n: number) => "a".repeat(n - "registry.example.com/".length);
    expect(normalizeReference(`registry.example.com/${path(255)}:1`)).toHaveLength(257);
    expect(() => normalizeReference(`registry.example.com/${path(256)}:1`))
      .toThrow("has a name longer than 255 characters");
  });

  test("a reference longer than any valid one is rejected without being matched", () => {
    const huge = `registry.example.com/${"a".repeat(260_000)}:1`;
    const started = performance.now();
    expect(() => normalizeReference(huge)).toThrow(/of 260023 characters is longer than any valid one \(1024\)/);
    expect(performance.now() - started).toBeLessThan(250); // matching it would take longer
  });
});
