import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/**
 * The Bun runtimes a release wraps its program in, one per target, fetched
 * once as exact-version npm packages (`npm pack`) into the release cache and
 * checked against the integrity package-lock.json records. The compiler finds
 * them through BUN_INSTALL_CACHE_DIR, so a build never downloads anything:
 * release.ts runs it without a network to prove that.
 */

/** The release's cache folder, outside the clone. */
export function cacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(base, "prefetchfiles-nri-plugin", "release");
}

export interface Target {
  /** The name in the tarball: linux-<arch>. */
  arch: string;
  /** What build.ts --target takes. */
  bunTarget: string;
  /** ELF machine the executable must have. */
  machine: "x86-64" | "aarch64";
  /** The npm package of the Bun runtime for this target. */
  runtimePackage: string;
  /** The file name the compiler looks for in BUN_INSTALL_CACHE_DIR, less "-v<version>". */
  runtimeCacheName: string;
  /** Which CPUs it is for, in INSTALL.txt. */
  cpu: string;
}

export const TARGETS: Target[] = [
  { arch: "x64", bunTarget: "bun-linux-x64", machine: "x86-64", runtimePackage: "@oven/bun-linux-x64",
    runtimeCacheName: "bun-linux-x64", cpu: "x86-64" },
  { arch: "x64-baseline", bunTarget: "bun-linux-x64-baseline", machine: "x86-64",
    runtimePackage: "@oven/bun-linux-x64-baseline", runtimeCacheName: "bun-linux-x64-baseline",
    cpu: "x86-64 CPUs without AVX2" },
  { arch: "arm64", bunTarget: "bun-linux-arm64", machine: "aarch64", runtimePackage: "@oven/bun-linux-aarch64",
    runtimeCacheName: "bun-linux-aarch64", cpu: "aarch64" },
];

/** The target whose runtime is the Bun running this script (no runtime to fetch). */
export function hostArch(): string | undefined {
  if (process.platform !== "linux") return undefined;
  return process.arch === "x64" ? "x64" : process.arch === "arm64" ? "arm64" : undefined;
}

export interface Runtime {
  target: Target;
  version: string;
  /** The runtime executable. */
  path: string;
  /** The unpacked npm package (package.json, README, any licence file). */
  packageDir: string;
  /** How it was obtained, for the log. */
  origin: string;
  /** sha512 integrity of the npm tarball, when one was used. */
  integrity?: string;
}

/** The pinned Bun version: the installed `bun` package, which must be the Bun running us. */
export function bunVersion(root: string): string {
  const installed = JSON.parse(readFileSync(join(root, "node_modules/bun/package.json"), "utf8")).version;
  if (installed !== Bun.version) {
    throw new Error(`node_modules/bun is ${installed} but this script runs on Bun ${Bun.version}; ` +
      `run it with node_modules/.bin/bun`);
  }
  return installed;
}

/** The runtime for `target`: the running Bun for the host target, else the npm package, cached. */
export async function runtimeFor(root: string, target: Target, version: string): Promise<Runtime> {
  if (target.arch === hostArch()) {
    return { target, version, path: process.execPath,
      packageDir: join(root, "node_modules", target.runtimePackage),
      origin: `${target.runtimePackage}@${version} as installed by npm (the Bun running this script)` };
  }
  const cache = cacheDir();
  const npmDir = join(cache, "npm");
  const runtimesDir = join(cache, "bun-runtimes");
  mkdirSync(npmDir, { recursive: true });
  mkdirSync(runtimesDir, { recursive: true });
  const tarball = join(npmDir, `${target.runtimePackage.replace(/^@/, "").replace("/", "-")}-${version}.tgz`);
  const runtimePath = join(runtimesDir, `${target.runtimeCacheName}-v${version}`);
  const packageDir = `${runtimePath}.package`;
  const recorded = `${tarball}.integrity`;

  let origin = `${target.runtimePackage}@${version} from ${tarball}`;
  if (!existsSync(tarball)) {
    const started = performance.now();
    const packed = Bun.spawnSync(["npm", "pack", `${target.runtimePackage}@${version}`,
      "--pack-destination", npmDir, "--json", "--ignore-scripts"], { cwd: npmDir, stderr: "pipe" });
    if (packed.exitCode !== 0) {
      throw new Error(`npm pack ${target.runtimePackage}@${version} failed:\n${packed.stderr}`);
    }
    const [info] = JSON.parse(packed.stdout.toString()) as { integrity: string; filename: string }[];
    if (!info || join(npmDir, info.filename) !== tarball) throw new Error(`npm pack wrote an unexpected file`);
    writeFileSync(recorded, `${info.integrity}\n`);
    origin = `${target.runtimePackage}@${version} fetched with npm pack in ` +
      `${Math.round(performance.now() - started)} ms into ${tarball}`;
  }
  const integrity = `sha512-${createHash("sha512").update(readFileSync(tarball)).digest("base64")}`;
  const expected = lockedIntegrity(root, target.runtimePackage, version) ??
    (existsSync(recorded) ? readFileSync(recorded, "utf8").trim() : undefined);
  if (expected && expected !== integrity) {
    throw new Error(`${tarball}: integrity ${integrity} is not the pinned ${expected}; delete it to fetch it again`);
  }
  if (!expected) origin += ` (no pinned integrity to compare with; it is ${integrity})`;

  // The stamp ties the unpacked runtime to its tarball: "<integrity> <sha256 of bin/bun>".
  const stamp = `${runtimePath}.from`;
  const [stampIntegrity, stampSha256] = existsSync(stamp) ? readFileSync(stamp, "utf8").split(" ") : [];
  if (!existsSync(runtimePath) || stampIntegrity !== integrity || stampSha256 !== await sha256File(runtimePath)) {
    rmSync(packageDir, { recursive: true, force: true });
    mkdirSync(packageDir, { recursive: true });
    const untar = Bun.spawnSync(["tar", "-xzf", tarball, "-C", packageDir, "--strip-components=1"],
      { stderr: "pipe" });
    if (untar.exitCode !== 0) throw new Error(`unpacking ${tarball} failed:\n${untar.stderr}`);
    const binary = join(packageDir, "bin/bun");
    if (!existsSync(binary)) throw new Error(`${tarball} has no bin/bun`);
    renameSync(binary, `${runtimePath}.tmp`);
    chmodSync(`${runtimePath}.tmp`, 0o755);
    renameSync(`${runtimePath}.tmp`, runtimePath);
    writeFileSync(stamp, `${integrity} ${await sha256File(runtimePath)}`);
  }
  return { target, version, path: runtimePath, packageDir, origin, integrity };
}

/** The integrity package-lock.json pins for `name@version`, if it lists that package. */
function lockedIntegrity(root: string, name: string, version: string): string | undefined {
  const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as {
    packages?: Record<string, { version?: string; integrity?: string }>;
  };
  const entry = lock.packages?.[`node_modules/${name}`];
  return entry?.version === version ? entry.integrity : undefined;
}

/** Hex SHA-256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  for await (const chunk of Bun.file(path).stream()) hasher.update(chunk);
  return hasher.digest("hex");
}
