import pkg from "../package.json" with { type: "json" };

/** This plugin's version. */
export const VERSION: string = pkg.version;

/** The NRI releases whose runtime code this version was tested against. */
export const TESTED_NRI_VERSIONS = [
  "v0.3.0", "v0.4.0", "v0.6.0", "v0.6.1", "v0.8.0",
  "v0.10.0", "v0.11.0", "v0.12.0", "v0.12.1", "v0.12.2",
] as const;

/** The text of --version. */
export function versionText(): string {
  return [
    `prefetchfiles-nri-plugin ${VERSION}`,
    `built with Bun ${Bun.version}`,
    `NRI protocol tested: ${TESTED_NRI_VERSIONS.join(" ")}`,
  ].join("\n");
}
