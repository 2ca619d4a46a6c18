import type { Subprocess } from "bun";
import { FakeRuntimeConnection, socketStream } from "./fake-runtime.ts";
import { pluginBinary } from "./plugin-binary.ts";
import { closeFd, socketpair } from "./socketpair.ts";

/**
 * Launches the compiled plugin the way a runtime does (socketpair on fd 3,
 * exactly the three NRI_PLUGIN_* variables, no arguments, cwd /) with a fake
 * runtime on the other end that registers it and sends `config` (with syslog
 * off unless `config` names a syslog socket). `prefix` runs it through another
 * command, such as an emulator; stderr is a pipe, so a test can read it.
 */
export async function launchOnSocketpair(
  config: string,
  binary = pluginBinary(),
  prefix: string[] = [],
) {
  const [runtimeEnd, pluginEnd] = socketpair();
  const plugin: Subprocess<"ignore", "ignore", "pipe"> = Bun.spawn([...prefix, binary], {
    stdio: ["ignore", "ignore", "pipe", pluginEnd],
    env: { NRI_PLUGIN_NAME: "prefetchfiles-nri-plugin", NRI_PLUGIN_IDX: "03",
      NRI_PLUGIN_SOCKET: "3" },
    cwd: "/",
  });
  closeFd(pluginEnd);
  let connection: FakeRuntimeConnection | undefined;
  let stream: ReturnType<typeof socketStream> | undefined;
  const socket = await Bun.connect({
    fd: runtimeEnd,
    socket: {
      binaryType: "uint8array",
      data: (_, chunk) => connection!.mux.data(chunk),
      drain: () => stream?.flush(),
      close: () => connection?.mux.closed(),
    },
  });
  const quiet = config.includes("syslog_socket") ? "" : 'syslog_socket = ""\n';
  stream = socketStream(socket);
  connection = new FakeRuntimeConnection(stream, { config: quiet + config });
  return { plugin, socket, connection };
}

/** Time from closing the runtime's end to the plugin's exit, once it is serving. */
export async function exitAfterEof(config: string): Promise<{ ms: number; code: number }> {
  const { plugin, socket, connection } = await launchOnSocketpair(config);
  await connection.configured.promise;
  await connection.plugin.synchronize({ more: false });
  const closed = performance.now();
  socket.end();
  const code = await plugin.exited;
  return { ms: performance.now() - closed, code };
}
