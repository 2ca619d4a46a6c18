// Where a launched plugin's log lines go: stdout and stderr are /dev/null then.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { launchOnSocketpair } from "../support/prelaunch.ts";
import { SyslogServer } from "../support/syslog-server.ts";
import { testScope } from "../support/scope.ts";

const { defer, tempDir } = testScope();


async function launch(config: string) {
  const launched = await launchOnSocketpair(config);
  defer(() => void launched.plugin.kill());
  await launched.connection.configured.promise;
  await launched.connection.plugin.synchronize({ more: false });
  return launched;
}

test("pre-launched: lines reach syslog with the Go plugin's tag, and the .conf's file", async () => {
  const dir = tempDir("plugin-logs-");
  const syslog = new SyslogServer(join(dir, "log.sock"));
  defer(() => syslog.close());
  const logFile = join(dir, "plugin.log");
  const { connection } = await launch(
    `syslog_socket = "${syslog.path}"\nlog_file = "${logFile}"\n` +
      'socket_address = "/nonexistent/system.sock"\n');
  await connection.plugin.runPodSandbox({ pod: { namespace: "ns", name: "web",
    annotations: { "containerd.io/nydus-prefetch": "not json" } } });
  const line = await syslog.waitFor("pod skipped");
  expect(line).toMatch(/^<28>\w{3} [ \d]\d \d\d:\d\d:\d\d prefetch-nri-plugin\[\d+\]: time=/);
  expect(line).toContain("pod=ns/web");
  expect(await syslog.waitFor("plugin configured")).toStartWith("<30>");
  expect(readFileSync(logFile, "utf8")).toContain('msg="pod skipped: annotation not forwarded"');
}, 30_000);

test("pre-launched: lines from before Configure are kept and written once it arrives",
  async () => {
    const dir = tempDir("plugin-logs-");
    const logFile = join(dir, "plugin.log");
    await launch(`log_file = "${logFile}"\n`);
    const text = readFileSync(logFile, "utf8");
    expect(text).toContain('msg="plugin starting"'); // logged before the .conf was known
    expect(text.indexOf("plugin starting")).toBeLessThan(text.indexOf("settings applied"));
  }, 30_000);

test("an unreachable syslog socket is reported in the log file, not fatal", async () => {
  const dir = tempDir("plugin-logs-");
  const logFile = join(dir, "plugin.log");
  await launch(`syslog_socket = "${dir}/missing.sock"\nlog_file = "${logFile}"\n`);
  expect(readFileSync(logFile, "utf8")).toContain("cannot connect to syslog socket");
}, 30_000);
