import { describe, expect, test } from "bun:test";
import {
  checkIdentity,
  IdentityError,
  resolveIdentity,
  splitIndexedName,
} from "../../src/nri/identity.ts";

const PLAIN_ARGV0 = "/usr/local/bin/prefetchfiles-nri-plugin";

describe("resolveIdentity", () => {
  test("takes the name and index from NRI_PLUGIN_NAME and NRI_PLUGIN_IDX", () => {
    const env = { NRI_PLUGIN_NAME: "prefetch", NRI_PLUGIN_IDX: "05" };
    expect(resolveIdentity({ env, argv0: PLAIN_ARGV0 })).toEqual({ idx: "05", name: "prefetch" });
  });

  test("flags win over the environment", () => {
    const env = { NRI_PLUGIN_NAME: "from-env", NRI_PLUGIN_IDX: "05" };
    expect(resolveIdentity({ flagName: "from-flag", flagIdx: "07", env, argv0: PLAIN_ARGV0 }))
      .toEqual({ idx: "07", name: "from-flag" });
  });

  test("with only an index the name is the executable's base name", () => {
    expect(resolveIdentity({ flagIdx: "03", env: {}, argv0: PLAIN_ARGV0 }))
      .toEqual({ idx: "03", name: "prefetchfiles-nri-plugin" });
  });

  test("without an index it comes from an NN-name executable", () => {
    const argv0 = "/opt/nri/plugins/03-prefetchfiles-nri-plugin";
    expect(resolveIdentity({ env: {}, argv0 }))
      .toEqual({ idx: "03", name: "prefetchfiles-nri-plugin" });
  });

  test("an NN-name executable with the same index given is not doubled", () => {
    const argv0 = "/opt/nri/plugins/03-prefetchfiles-nri-plugin";
    expect(resolveIdentity({ env: { NRI_PLUGIN_IDX: "03" }, argv0 }))
      .toEqual({ idx: "03", name: "prefetchfiles-nri-plugin" });
  });

  test("NRI_PLUGIN_NAME 03-foo with index 03 is not doubled", () => {
    const env = { NRI_PLUGIN_NAME: "03-foo", NRI_PLUGIN_IDX: "03" };
    expect(resolveIdentity({ env, argv0: PLAIN_ARGV0 })).toEqual({ idx: "03", name: "foo" });
  });

  test("a name carrying a different index keeps it", () => {
    const env = { NRI_PLUGIN_NAME: "03-foo", NRI_PLUGIN_IDX: "04" };
    expect(resolveIdentity({ env, argv0: PLAIN_ARGV0 })).toEqual({ idx: "04", name: "03-foo" });
  });

  test("no index anywhere is an IdentityError that says how to give one", () => {
    expect(() => resolveIdentity({ env: {}, argv0: PLAIN_ARGV0 }))
      .toThrow(/no plugin index: pass --idx NN or set NRI_PLUGIN_IDX.*"prefetchfiles-nri-plugin"/);
  });

  test("a bad index from a flag is rejected", () => {
    expect(() => resolveIdentity({ flagIdx: "3", env: {}, argv0: PLAIN_ARGV0 }))
      .toThrow(IdentityError);
  });

  test("a bad name from a flag is rejected", () => {
    expect(() => resolveIdentity({ flagName: "a b", flagIdx: "03", env: {}, argv0: PLAIN_ARGV0 }))
      .toThrow('plugin name "a b" must be non-empty and use only [A-Za-z0-9_.+-]');
  });
});

describe("checkIdentity", () => {
  test("accepts two digits and a name of [A-Za-z0-9_.+-]", () => {
    const identity = { idx: "00", name: "Prefetch_files.v2+nri-plugin" };
    expect(checkIdentity(identity)).toEqual(identity);
  });

  for (const idx of ["3", "003", "ab", ""]) {
    test(`index ${JSON.stringify(idx)} is rejected`, () => {
      expect(() => checkIdentity({ idx, name: "prefetch" }))
        .toThrow(`plugin index "${idx}" must be exactly two digits`);
    });
  }

  for (const name of ["a b", "a/b", ""]) {
    test(`name ${JSON.stringify(name)} is rejected`, () => {
      expect(() => checkIdentity({ idx: "03", name }))
        .toThrow(`plugin name "${name}" must be non-empty and use only [A-Za-z0-9_.+-]`);
    });
  }
});

describe("splitIndexedName", () => {
  test("splits NN-name", () => {
    expect(splitIndexedName("03-prefetchfiles-nri-plugin"))
      .toEqual({ idx: "03", name: "prefetchfiles-nri-plugin" });
  });

  test("a name without a two-digit prefix does not split", () => {
    expect(splitIndexedName("3-prefetch")).toBeUndefined();
    expect(splitIndexedName("prefetch")).toBeUndefined();
  });
});
