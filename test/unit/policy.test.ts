import { describe, expect, test } from "bun:test";
import type { Policy } from "../../src/config/settings.ts";
import type { PrefetchEntry } from "../../src/prefetch/annotation.ts";
import { entryRefusal, namespaceRefusal } from "../../src/prefetch/policy.ts";

function policy(overrides: Partial<Policy> = {}): Policy {
  return {
    allowedNamespaces: [],
    allowedPrefetchPrefixes: [],
    allowedUrlSchemes: [],
    maxAnnotationBytes: 1024,
    ...overrides,
  };
}

function entries(...prefetch: string[]): PrefetchEntry[] {
  return prefetch.map((value, index) => {
    const image = `registry.example.com/app${index}:1`;
    return { image, prefetch: value, fields: { image, prefetch: value } };
  });
}

describe("namespaceRefusal", () => {
  test("an empty allowed_namespaces allows every namespace", () => {
    expect(namespaceRefusal("anything", policy())).toBeUndefined();
  });

  test("a listed namespace is allowed", () => {
    expect(namespaceRefusal("web", policy({ allowedNamespaces: ["batch", "web"] })))
      .toBeUndefined();
  });

  test("an unlisted namespace is refused with its name in the reason", () => {
    expect(namespaceRefusal("default", policy({ allowedNamespaces: ["web"] })))
      .toBe('namespace "default" is not in allowed_namespaces');
  });
});

describe("entryRefusal", () => {
  test("empty lists allow any path and any URL", () => {
    expect(entryRefusal(entries("/x/../etc/shadow", "gopher://h/x"), policy())).toBeUndefined();
  });

  test("a path under an allowed prefix is allowed", () => {
    const rules = policy({ allowedPrefetchPrefixes: ["/etc/nydus/prefetch/"] });
    expect(entryRefusal(entries("/etc/nydus/prefetch/nginx.list"), rules)).toBeUndefined();
  });

  test("a path outside every allowed prefix is refused, naming the element", () => {
    const rules = policy({ allowedPrefetchPrefixes: ["/etc/nydus/prefetch/"] });
    expect(entryRefusal(entries("/etc/nydus/prefetch/a.list", "/etc/shadow"), rules))
      .toBe('element 1: prefetch "/etc/shadow" is not under any of allowed_prefetch_prefixes');
  });

  test("a path that climbs out of an allowed prefix with .. is refused", () => {
    const rules = policy({ allowedPrefetchPrefixes: ["/etc/nydus/prefetch/"] });
    expect(entryRefusal(entries("/etc/nydus/prefetch/../../shadow"), rules))
      .toBe('element 0: prefetch "/etc/nydus/prefetch/../../shadow" is not in normal ' +
        'form (it resolves to "/etc/shadow")');
  });

  test("a path with . or doubled slashes under an allowed prefix is refused", () => {
    const rules = policy({ allowedPrefetchPrefixes: ["/etc/nydus/prefetch/"] });
    expect(entryRefusal(entries("/etc/nydus/prefetch/./a.list"), rules)).toContain("normal form");
    expect(entryRefusal(entries("/etc/nydus/prefetch//a.list"), rules)).toContain("normal form");
  });

  test("a URL under an allowed URL prefix is allowed", () => {
    const rules = policy({ allowedPrefetchPrefixes: ["https://lists.example.com/"] });
    expect(entryRefusal(entries("https://lists.example.com/nginx"), rules)).toBeUndefined();
  });

  test("a URL with an allowed scheme is allowed", () => {
    const rules = policy({ allowedUrlSchemes: ["https"] });
    expect(entryRefusal(entries("https://lists.example.com/nginx"), rules)).toBeUndefined();
  });

  test("the scheme is compared without regard to case", () => {
    const rules = policy({ allowedUrlSchemes: ["https"] });
    expect(entryRefusal(entries("HTTPS://lists.example.com/nginx"), rules)).toBeUndefined();
  });

  test("a URL with a scheme not in allowed_url_schemes is refused", () => {
    const rules = policy({ allowedUrlSchemes: ["https"] });
    expect(entryRefusal(entries("http://lists.example.com/nginx"), rules))
      .toBe('element 0: URL scheme "http" is not in allowed_url_schemes');
  });

  test("a file: URL is not taken for a path under an allowed path prefix", () => {
    const rules = policy({ allowedPrefetchPrefixes: ["/etc/nydus/prefetch/"] });
    expect(entryRefusal(entries("file:/etc/nydus/prefetch/a.list"), rules))
      .toContain('prefetch "file:/etc/nydus/prefetch/a.list" is not');
  });

  test("a URL that climbs out of an allowed URL prefix is refused, %2e%2e included", () => {
    const rules = policy({ allowedPrefetchPrefixes: ["https://files.example.com/prefetch/"] });
    for (const value of ["https://files.example.com/prefetch/../admin/x",
      "https://files.example.com/prefetch/%2e%2e/admin/x"]) {
      expect(entryRefusal(entries(value), rules)).toContain("is not in normal form");
    }
    expect(entryRefusal(entries("https://files.example.com/prefetch/a.list"), rules))
      .toBeUndefined();
  });

  test("a prefix without a trailing slash matches whole path segments only", () => {
    const rules = policy({ allowedPrefetchPrefixes: ["/etc/nydus/prefetch"] });
    expect(entryRefusal(entries("/etc/nydus/prefetch/a.list"), rules)).toBeUndefined();
    expect(entryRefusal(entries("/etc/nydus/prefetch-evil/x"), rules))
      .toContain("is not under any of allowed_prefetch_prefixes");
  });

  test("allowed_url_schemes does not restrict plain paths", () => {
    const rules = policy({ allowedUrlSchemes: ["https"] });
    expect(entryRefusal(entries("/etc/nydus/prefetch/a.list"), rules)).toBeUndefined();
  });
});
