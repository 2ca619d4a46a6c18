/**
 * The upstream Go plugin from nydus-snapshotter, built once with
 * `go install` and cached outside the clone.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";

export const GO_PLUGIN_MODULE = "github.com/containerd/nydus-snapshotter";
export const GO_PLUGIN_VERSION = "v0.15.0";
const PACKAGE = `${GO_PLUGIN_MODULE}/cmd/prefetchfiles-nri-plugin@${GO_PLUGIN_VERSION}`;

/** Folder holding the cached build. */
export function goPluginDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(base, "prefetchfiles-nri-plugin", "bench", `go-plugin-${GO_PLUGIN_VERSION}`);
}

/** Path of the Go plugin, building it first when it is not cached. */
export async function goPluginBinary(log: (line: string) => void = () => {}): Promise<string> {
  const dir = goPluginDir();
  const binary = join(dir, "prefetchfiles-nri-plugin");
  if (existsSync(binary)) return binary;
  mkdirSync(dir, { recursive: true });
  log(`building the Go plugin: go install ${PACKAGE} (once; cached in ${dir})`);
  // Outside any module, so go install resolves the package on its own.
  const cwd = mkdtempSync(join(tmpdir(), "go-plugin-build-"));
  try {
    const proc = Bun.spawn(["go", "install", PACKAGE], {
      cwd, env: { ...process.env, GOBIN: dir }, stdout: "pipe", stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(),
      new Response(proc.stderr).text(), proc.exited]);
    if (code !== 0 || !existsSync(binary)) {
      throw new Error(`go install ${PACKAGE} failed (exit ${code}):\n${out}${err}`);
    }
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
  return binary;
}

/** `go version` of the toolchain, and the module versions linked into the binary. */
export function goBinaryInfo(binary: string): { go: string; nri: string; ttrpc: string } {
  const run = Bun.spawnSync(["go", "version", "-m", binary], { stdout: "pipe", stderr: "pipe" });
  const text = run.stdout.toString();
  const dep = (path: string) =>
    new RegExp(`\\s(?:dep|mod)\\s+${path.replaceAll("/", "\\/")}\\s+(\\S+)`).exec(text)?.[1] ??
      "?";
  const go = /:\s+(go\S+)/.exec(text)?.[1] ?? "?";
  return { go, nri: dep("github.com/containerd/nri"), ttrpc: dep("github.com/containerd/ttrpc") };
}
