// Runtime behaviour the real adaptation does not produce on demand, played by
// a fake runtime: refused registration, late or missing replies, EOF, signals.
import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type FakeBehaviour, FakeRuntimeConnection, listenFakeRuntime, socketStream }
  from "../support/fake-runtime.ts";
import { pluginBinary } from "../support/plugin-binary.ts";
import { closeFd, socketpair } from "../support/socketpair.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "fake-runtime-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs the plugin by hand against a fake runtime; returns the process and its stderr. */
function external(behaviour: FakeBehaviour, ...flags: string[]) {
  const socket = join(tempDir(), "nri.sock");
  const runtime = listenFakeRuntime(socket, behaviour);
  cleanups.push(() => runtime.stop());
  const plugin = Bun.spawn([pluginBinary(), "--nri-socket", socket, "--idx", "03",
    "--socket-addr", "/nonexistent/system.sock", ...flags], { stdout: "ignore", stderr: "pipe" });
  cleanups.push(() => void plugin.kill());
  const output = { text: "" };
  const reading = (async () => {
    for await (const chunk of plugin.stderr) output.text += Buffer.from(chunk).toString();
  })();
  return { runtime, plugin, output, reading };
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

test("a refused registration ends the plugin with a message quoting the runtime", async () => {
  const { plugin, output, reading } = external({ registerError: "plugin name already taken" });
  expect(await plugin.exited).toBe(1);
  await reading;
  expect(output.text).toContain("refused registration: plugin name already taken");
}, 30_000);

test("a RegisterPlugin reply later than the runtime's default 5 s is still served", async () => {
  const { runtime, output } = external({ registerDelayMs: 5500 });
  await waitFor(() => runtime.connections.length === 1, "the dial");
  const registered = await runtime.connections[0]!.registered.promise;
  expect(registered).toEqual({ name: "prefetchfiles-nri-plugin", idx: "03" });
  await waitFor(() => output.text.includes('msg="plugin configured"'), "Configure", 5000);
  const reply = await runtime.connections[0]!.plugin.runPodSandbox({ pod: { name: "p" } });
  expect(reply).toBeDefined();
}, 30_000);

test("no RegisterPlugin reply: an error names what was awaited and for how long", async () => {
  const { output } = external({ registerDelayMs: Infinity }, "--register-timeout", "1s");
  await waitFor(() => output.text.includes("no RegisterPlugin reply"), "the error", 8000);
  expect(output.text).toMatch(/no RegisterPlugin reply from the runtime on \S+ within 1000 ms/);
}, 30_000);

test("no Configure after registering: an error names what was awaited", async () => {
  const { output } = external({ skipConfigure: true }, "--configure-timeout", "1s");
  await waitFor(() => output.text.includes("no Configure"), "the error", 8000);
  expect(output.text).toMatch(/no Configure from the runtime on \S+ within 1000 ms/);
}, 30_000);

/** Launches the plugin as a runtime would: socketpair on fd 3, three variables, no args. */
async function prelaunched() {
  const [runtimeEnd, pluginEnd] = socketpair();
  const plugin = Bun.spawn([pluginBinary()], {
    stdio: ["ignore", "ignore", "ignore", pluginEnd],
    env: { NRI_PLUGIN_NAME: "prefetchfiles-nri-plugin", NRI_PLUGIN_IDX: "03",
      NRI_PLUGIN_SOCKET: "3" },
    cwd: "/",
  });
  closeFd(pluginEnd);
  cleanups.push(() => void plugin.kill());
  let connection: FakeRuntimeConnection | undefined;
  const socket = await Bun.connect({
    fd: runtimeEnd,
    socket: {
      binaryType: "uint8array",
      data: (_, chunk) => connection!.mux.data(chunk),
      close: () => connection?.mux.closed(),
    },
  });
  connection = new FakeRuntimeConnection(socketStream(socket), {
    config: `socket_address = "/nonexistent/system.sock"\nlog_file = "${tempDir()}/log"\n`,
  });
  return { plugin, socket, connection };
}

test("pre-launched: EOF from the runtime ends the plugin with status 0 within 100 ms",
  async () => {
    const { plugin, socket, connection } = await prelaunched();
    await connection.registered.promise;
    await connection.plugin.synchronize({ more: false });
    const closed = performance.now();
    socket.end();
    expect(await plugin.exited).toBe(0);
    expect(performance.now() - closed).toBeLessThan(100);
  }, 30_000);

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  test(`${signal} ends a serving plugin cleanly`, async () => {
    const { plugin, connection } = await prelaunched();
    await connection.registered.promise;
    plugin.kill(signal);
    expect(await plugin.exited).toBe(0);
  }, 30_000);
}
