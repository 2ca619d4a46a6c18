// Runtime behaviour the real adaptation does not produce on demand, played by
// a fake runtime: refused registration, late or missing replies, EOF, signals.
import { expect, test } from "bun:test";
import { join } from "node:path";
import { type FakeBehaviour, listenFakeRuntime } from "../support/fake-runtime.ts";
import { pluginBinary } from "../support/plugin-binary.ts";
import { exitAfterEof, launchOnSocketpair } from "../support/prelaunch.ts";
import { testScope } from "../support/scope.ts";
import { waitUntil } from "../support/wait.ts";

const { defer, tempDir } = testScope();


/** Runs the plugin by hand against a fake runtime; returns the process and its stderr. */
function external(behaviour: FakeBehaviour, ...flags: string[]) {
  const socket = join(tempDir("fake-runtime-"), "nri.sock");
  const runtime = listenFakeRuntime(socket, behaviour);
  defer(() => runtime.stop());
  const plugin = Bun.spawn([pluginBinary(), "--nri-socket", socket, "--idx", "03",
    "--socket-addr", "/nonexistent/system.sock", ...flags], { stdout: "ignore", stderr: "pipe" });
  defer(() => void plugin.kill());
  const output = { text: "" };
  const reading = (async () => {
    for await (const chunk of plugin.stderr) output.text += Buffer.from(chunk).toString();
  })();
  return { runtime, plugin, output, reading };
}

test("a refused registration ends the plugin with a message quoting the runtime", async () => {
  const { plugin, output, reading } = external({ registerError: "plugin name already taken" });
  expect(await plugin.exited).toBe(1);
  await reading;
  expect(output.text).toContain("refused registration: plugin name already taken");
}, 30_000);

test("a RegisterPlugin reply later than the runtime's default 5 s is still served", async () => {
  const { runtime, output } = external({ registerDelayMs: 5500 });
  await waitUntil(() => runtime.connections.length === 1, "the dial", 10_000);
  const registered = await runtime.connections[0]!.registered.promise;
  expect(registered).toEqual({ name: "prefetchfiles-nri-plugin", idx: "03" });
  await waitUntil(() => output.text.includes('msg="plugin configured"'), "Configure", 5000);
  const reply = await runtime.connections[0]!.plugin.runPodSandbox({ pod: { name: "p" } });
  expect(reply).toBeDefined();
}, 30_000);

test("no RegisterPlugin reply: an error names what was awaited and for how long", async () => {
  const { output } = external({ registerDelayMs: Infinity }, "--register-timeout", "1s");
  await waitUntil(() => output.text.includes("no RegisterPlugin reply"), "the error", 8000);
  expect(output.text).toMatch(/no RegisterPlugin reply from the runtime on \S+ within 1000 ms/);
}, 30_000);

test("no Configure after registering: an error names what was awaited", async () => {
  const { output } = external({ skipConfigure: true }, "--configure-timeout", "1s");
  await waitUntil(() => output.text.includes("no Configure"), "the error", 8000);
  expect(output.text).toMatch(/no Configure from the runtime on \S+ within 1000 ms/);
}, 30_000);

async function prelaunched() {
  const launched = await launchOnSocketpair(
    `socket_address = "/nonexistent/system.sock"\nlog_file = "${tempDir("fake-runtime-")}/log"\n`);
  defer(() => void launched.plugin.kill());
  return launched;
}

test("pre-launched: EOF from the runtime ends the plugin with status 0", async () => {
  const { code } = await exitAfterEof(`log_file = "${tempDir("fake-runtime-")}/log"\n`);
  expect(code).toBe(0); // how fast is measured by npm run soak, not asserted here
}, 30_000);

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  test(`${signal} ends a serving plugin cleanly`, async () => {
    const { plugin, connection } = await prelaunched();
    // Only once Configure has delivered the .conf does the plugin log to its log_file:
    // a signal before that would send its lines to the machine's syslog or /var/log.
    await connection.configured.promise;
    plugin.kill(signal);
    expect(await plugin.exited).toBe(0);
  }, 30_000);
}

test("an NRI socket path that is not a socket is named as such", async () => {
  const file = join(tempDir("fake-runtime-"), "nri.sock");
  await Bun.write(file, "");
  const plugin = Bun.spawn([pluginBinary(), "--nri-socket", file, "--idx", "03",
    "--socket-addr", "/nonexistent/system.sock"], { stdout: "ignore", stderr: "pipe" });
  defer(() => void plugin.kill());
  const reader = plugin.stderr.getReader();
  let text = "";
  while (!text.includes("cannot reach the runtime")) {
    const { done, value } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString();
  }
  expect(text).toContain(`NRI socket ${file} exists but is not a socket`);
}, 30_000);

test("an NRI_PLUGIN_SOCKET that is no usable socket is named, with what is wrong", async () => {
  const dir = tempDir("fake-runtime-");
  const conf = join(dir, "plugin.conf");
  const log = join(dir, "plugin.log");
  await Bun.write(conf, `log_file = "${log}"\nsyslog_socket = ""\n` +
    `socket_address = "${join(dir, "system.sock")}"\n`);
  const file = Bun.file(conf);
  for (const [value, message] of [
    ["99", "NRI_PLUGIN_SOCKET names fd 99, which is not open (EBADF)"],
    ["abc", 'NRI_PLUGIN_SOCKET is \\"abc\\", not a file descriptor number'],
    ["3", "NRI_PLUGIN_SOCKET names fd 3, which is not a socket"],
  ]) {
    const plugin = Bun.spawn([pluginBinary(), "--conf", conf], {
      stdio: ["ignore", "ignore", "ignore", file], // fd 3: a regular file, not a socket
      env: { NRI_PLUGIN_SOCKET: value!, NRI_PLUGIN_IDX: "03", NRI_PLUGIN_NAME: "prefetch" },
    });
    expect(await plugin.exited).toBe(1);
    expect(await Bun.file(log).text()).toContain(message!);
  }
}, 30_000);

test("a 1 MiB pod start from the runtime is read whole and answered (skipped: over the limit)",
  async () => {
    const dir = tempDir("fake-runtime-");
    const log = join(dir, "plugin.log");
    const { plugin, connection } = await launchOnSocketpair(
      `socket_address = "${join(dir, "system.sock")}"\nlog_file = "${log}"\n`);
    defer(() => void plugin.kill());
    await connection.configured.promise;
    const value = `[{"image":"nginx","prefetch":"${"a".repeat(1 << 20)}"}]`;
    const annotations = { "containerd.io/nydus-prefetch": value };
    const pod = { namespace: "default", name: "big", annotations };
    await connection.plugin.runPodSandbox({ pod }, { timeoutMs: 10_000 });
    expect(await Bun.file(log).text()).toContain("over max_annotation_bytes (262144)");
  }, 30_000);
