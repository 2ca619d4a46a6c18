/**
 * Release files for airgapped nodes (npm run release):
 *
 *   release/prefetchfiles-nri-plugin-<version>-linux-<arch>.tar.gz   (x64, x64-baseline, arm64)
 *   release/SHA256SUMS
 *
 * Each tarball holds one folder with the executable (never stripped), a sample
 * .conf, INSTALL.txt, LICENSES/ (everything embedded, the Bun runtime included)
 * and SHA256SUMS. Each executable is built by build.ts with --target, from the
 * Bun runtime of that target: npm pack fetches it once into the release cache
 * (see runtimes.ts), and the compiler runs without a network.
 *
 *   bun test/release/release.ts [--arch ARCH]... [--out DIR]
 *       [--bun-license FILE_OR_FOLDER]... [--allow-missing-licenses]
 *
 * The Bun runtime's npm packages ship no licence text. Without one (from
 * --bun-license, or PREFETCH_RELEASE_BUN_LICENSE, a ":"-separated list) the
 * release stops before building; --allow-missing-licenses builds anyway and
 * marks the gap in LICENSES/README.txt.
 */
import { chmodSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { readElf } from "./elf.ts";
import { apacheText, bunComponent, type Component, embeddedPackages, npmComponent, projectComponent,
  writeLicenses } from "./licenses.ts";
import { bunVersion, type Runtime, runtimeFor, sha256File, type Target, TARGETS } from "./runtimes.ts";
import { CONF, EXECUTABLE, INSTALL, installText, sampleConf } from "./texts.ts";

export const ROOT = join(import.meta.dir, "../..");
/** The Bun runtime's licence notice that ships in every tarball by default. */
export const BUN_NOTICE = join(import.meta.dir, "licenses/bun-runtime.txt");

/** A path as short as it can be shown: relative to the current folder when inside it. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel.startsWith("..") ? path : rel;
}

export interface ReleaseOptions {
  root?: string;
  out?: string;
  arches?: string[];
  bunLicenses?: string[];
  allowMissingLicenses?: boolean;
  keepStaging?: boolean;
  log?: (line: string) => void;
}

export interface Built {
  target: Target;
  tarball: string;
  sha256: string;
  bytes: number;
  executableBytes: number;
  glibc: string | undefined;
  runtime: Runtime;
  runtimeSha256: string;
  missingLicenses: string[];
}

/** The tarball's folder and file name stem. */
export function releaseStem(version: string, arch: string): string {
  return `prefetchfiles-nri-plugin-${version}-linux-${arch}`;
}

/** Thrown when licence texts are missing and the release was not told to go on. */
export class MissingLicensesError extends Error {
  override name = "MissingLicensesError";
}

export async function release(options: ReleaseOptions = {}): Promise<Built[]> {
  const root = options.root ?? ROOT;
  const out = options.out ?? join(root, "release");
  const log = options.log ?? ((line: string) => console.log(line));
  const started = performance.now();
  const step = (text: string) => log(`[${((performance.now() - started) / 1000).toFixed(1)}s] ${text}`);

  const version: string = (await Bun.file(join(root, "package.json")).json()).version;
  const bun = bunVersion(root);
  const targets = (options.arches ?? TARGETS.map((target) => target.arch)).map((arch) => {
    const target = TARGETS.find((candidate) => candidate.arch === arch);
    if (!target) throw new Error(`unknown arch "${arch}"; one of ${TARGETS.map((t) => t.arch).join(", ")}`);
    return target;
  });

  // Licences first: a release that cannot carry them stops before building anything.
  const apache = apacheText(root);
  const embedded = await embeddedPackages(root, "src/main.ts");
  const shared: Component[] = [projectComponent(root, apache),
    ...[...embedded].sort(([a], [b]) => a.localeCompare(b))
      .map(([name, files]) => npmComponent(root, name, files, apache))];
  step(`embedded packages: ${[...embedded.keys()].sort().join(", ")}`);
  stopOnMissing(shared, options);

  const runtimes: Runtime[] = [];
  for (const target of targets) {
    const runtime = await runtimeFor(root, target, bun);
    step(`runtime for linux-${target.arch}: ${runtime.origin}`);
    runtimes.push(runtime);
  }
  const bunLicenses = options.bunLicenses ?? [];
  const bunComponents = runtimes.map((runtime) =>
    bunComponent(root, runtime.target.runtimePackage, bun, [runtime.packageDir], bunLicenses));
  stopOnMissing(bunComponents, options);

  const offline = offlineWrapper();
  step(offline ? `compiling without a network (${offline.join(" ")})`
    : "cannot drop the network for the compiler here; checking its output for downloads instead");

  const staging = join(out, ".staging");
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const epoch = sourceDateEpoch(root);
  const built: Omit<Built, "tarball" | "sha256" | "bytes">[] = [];
  for (const [index, runtime] of runtimes.entries()) {
    const target = runtime.target;
    const stem = releaseStem(version, target.arch);
    const dir = join(staging, stem);
    mkdirSync(dir, { recursive: true });
    const executable = join(dir, EXECUTABLE);
    compile(root, target, executable, runtime, offline);
    const elf = readElf(executable);
    if (elf.machine !== target.machine) throw new Error(`${executable}: ${elf.machine}, expected ${target.machine}`);
    for (const section of [".bun", ".symtab"]) {
      if (!elf.sections.includes(section)) throw new Error(`${executable}: no ${section} section (stripped?)`);
    }
    if (target.machine === readElf(process.execPath).machine) checkVersion(executable, version, bun);
    const executableBytes = Bun.file(executable).size;
    step(`built linux-${target.arch}: ${executableBytes} bytes, ${elf.machine}, glibc ${elf.glibc ?? "?"}`);

    const bunComponent = bunComponents[index]!;
    writeFileSync(join(dir, CONF), sampleConf(version));
    writeFileSync(join(dir, INSTALL), installText({ version, arch: target.arch, cpu: target.cpu, glibc: elf.glibc }));
    writeLicenses(join(dir, "LICENSES"),
      `Licences of everything embedded in prefetchfiles-nri-plugin ${version} (linux-${target.arch})`,
      [...shared, bunComponent]);
    await writeSums(dir);
    normaliseModes(dir, executable);
    built.push({ target, executableBytes, glibc: elf.glibc, runtime,
      runtimeSha256: await sha256File(runtime.path),
      missingLicenses: [...shared, bunComponent].flatMap((c) => c.missing.map((m) => `${c.name}: ${m}`)) });
  }

  mkdirSync(out, { recursive: true });
  const packed = await Promise.all(built.map(async (entry) => {
    const stem = releaseStem(version, entry.target.arch);
    const tarball = join(out, `${stem}.tar.gz`);
    await pack(staging, stem, tarball, epoch);
    return { ...entry, tarball, sha256: await sha256File(tarball), bytes: Bun.file(tarball).size };
  }));
  step(`packed ${packed.length} tarball(s)`);

  const pattern = new RegExp(`^prefetchfiles-nri-plugin-${version.replace(/\./g, "\\.")}-linux-.+\\.tar\\.gz$`);
  const listed = readdirSync(out).filter((name) => pattern.test(name)).sort();
  const sums = await Promise.all(listed.map(async (name) => `${await sha256File(join(out, name))}  ${name}\n`));
  writeFileSync(join(out, "SHA256SUMS"), sums.join(""));
  if (!options.keepStaging) rmSync(staging, { recursive: true, force: true });

  for (const entry of packed) {
    log(`${shown(entry.tarball)}  ${entry.bytes} bytes  sha256 ${entry.sha256}`);
    log(`  executable ${entry.executableBytes} bytes, glibc ${entry.glibc}; Bun runtime ` +
      `${entry.target.runtimePackage}@${bun} sha256 ${entry.runtimeSha256}`);
    for (const missing of entry.missingLicenses) log(`  MISSING LICENCE ${missing}`);
  }
  const [x64, baseline] = ["x64", "x64-baseline"].map((arch) => packed.find((e) => e.target.arch === arch));
  if (x64 && baseline) {
    log(x64.runtimeSha256 === baseline.runtimeSha256
      ? "the x64 and x64-baseline Bun runtimes are byte-identical (one x64 runtime for both targets)"
      : "the x64 and x64-baseline Bun runtimes differ");
  }
  step(`done: ${shown(join(out, "SHA256SUMS"))}`);
  return packed;
}

function stopOnMissing(components: Component[], options: ReleaseOptions): void {
  const missing = components.flatMap((c) => c.missing.map((m) => `${c.name} ${c.version}: ${m}`));
  if (missing.length === 0 || options.allowMissingLicenses) return;
  throw new MissingLicensesError(`licence texts missing, nothing built:\n  ${missing.join("\n  ")}\n` +
    `(--allow-missing-licenses builds anyway and lists the gap in LICENSES/README.txt)`);
}

/** A command prefix that runs the compiler in a network namespace of its own, if this machine allows one. */
function offlineWrapper(): string[] | undefined {
  for (const wrapper of [["unshare", "--net"], ["unshare", "--net", "--map-root-user"]]) {
    try {
      if (Bun.spawnSync([...wrapper, "true"], { stderr: "ignore" }).exitCode === 0) return wrapper;
    } catch {
      return undefined; // no unshare
    }
  }
  return undefined;
}

/** build.ts for one target, finding the target's runtime in the release cache. */
function compile(root: string, target: Target, outfile: string, runtime: Runtime, offline: string[] | undefined) {
  const command = [process.execPath, "build.ts", "--target", target.bunTarget, "--outfile", outfile];
  const env: Record<string, string | undefined> = { ...process.env };
  if (runtime.path !== process.execPath) env.BUN_INSTALL_CACHE_DIR = join(runtime.path, "..");
  const run = Bun.spawnSync([...(offline ?? []), ...command], { cwd: root, env, stdout: "pipe", stderr: "pipe" });
  const output = `${run.stdout}${run.stderr}`;
  if (run.exitCode !== 0) throw new Error(`build.ts --target ${target.bunTarget} failed:\n${output}`);
  if (/download/i.test(output)) throw new Error(`the compiler downloaded a runtime instead of using ${runtime.path}:\n${output}`);
}

function checkVersion(executable: string, version: string, bun: string): void {
  const run = Bun.spawnSync([executable, "--version"], { env: {}, stdout: "pipe", stderr: "pipe" });
  const text = run.stdout.toString();
  if (run.exitCode !== 0 || !text.startsWith(`prefetchfiles-nri-plugin ${version}\n`) ||
    !text.includes(`built with Bun ${bun}`)) {
    throw new Error(`${executable} --version printed:\n${text}${run.stderr}`);
  }
}

/** SHA256SUMS inside the folder, in `sha256sum -c` format, for every other file. */
async function writeSums(dir: string): Promise<void> {
  const files = (readdirSync(dir, { recursive: true }) as string[])
    .filter((file) => file !== "SHA256SUMS" && !isDir(join(dir, file)))
    .sort();
  const lines = await Promise.all(files.map(async (file) => `${await sha256File(join(dir, file))}  ${file}\n`));
  writeFileSync(join(dir, "SHA256SUMS"), lines.join(""));
}

function isDir(path: string): boolean {
  return statSync(path).isDirectory();
}

function normaliseModes(dir: string, executable: string): void {
  chmodSync(dir, 0o755);
  for (const file of readdirSync(dir, { recursive: true }) as string[]) {
    const path = join(dir, file);
    chmodSync(path, isDir(path) || path === executable ? 0o755 : 0o644);
  }
}

/** The commit time, so a rebuild of the same commit lists the same dates. */
function sourceDateEpoch(root: string): number {
  const fromEnv = Number(process.env.SOURCE_DATE_EPOCH);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  const git = Bun.spawnSync(["git", "log", "-1", "--format=%ct"], { cwd: root, stdout: "pipe", stderr: "ignore" });
  const fromGit = Number(git.stdout.toString().trim());
  return git.exitCode === 0 && fromGit > 0 ? fromGit : Math.floor(Date.now() / 1000);
}

async function pack(staging: string, stem: string, tarball: string, epoch: number): Promise<void> {
  const partial = `${tarball}.partial`;
  const tar = Bun.spawn(["tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner",
    `--mtime=@${epoch}`, "-I", "gzip -6n", "-cf", partial, "-C", staging, stem], { stderr: "pipe" });
  if (await tar.exited !== 0) throw new Error(`tar for ${stem} failed:\n${await new Response(tar.stderr).text()}`);
  renameSync(partial, tarball);
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Bun.argv.slice(2),
    options: {
      arch: { type: "string", multiple: true },
      out: { type: "string" },
      "bun-license": { type: "string", multiple: true },
      "allow-missing-licenses": { type: "boolean", default: false },
      "keep-staging": { type: "boolean", default: false },
    },
  });
  const fromEnv = (process.env.PREFETCH_RELEASE_BUN_LICENSE ?? "").split(":").filter(Boolean);
  const given = [...(values["bun-license"] ?? []), ...fromEnv];
  try {
    await release({
      arches: values.arch?.flatMap((arch) => arch.split(",")),
      out: values.out,
      // The notice committed beside this script, unless other texts are given.
      bunLicenses: given.length > 0 ? given : [BUN_NOTICE],
      allowMissingLicenses: values["allow-missing-licenses"],
      keepStaging: values["keep-staging"],
    });
  } catch (error) {
    console.error(`release: ${error instanceof MissingLicensesError ? error.message : (error as Error).stack}`);
    process.exit(1);
  }
}
