import type { Subprocess } from "bun";
import { FakeRuntimeConnection, socketStream } from "../support/fake-runtime.ts";
import { closeFd, socketpair } from "../support/socketpair.ts";

/**
 * Launches an executable the way a runtime does (socketpair on fd 3, exactly
 * the three NRI_PLUGIN_* variables, no arguments, cwd /), but through a
 * command prefix such as an emulator, with a fake runtime on the other end
 * that registers it and sends `config`.
 */
export async function launchUnder(prefix: string[], binary: string, config: string) {
  const [runtimeEnd, pluginEnd] = socketpair();
  const plugin: Subprocess = Bun.spawn([...prefix, binary], {
    stdio: ["ignore", "ignore", "pipe", pluginEnd],
    env: { NRI_PLUGIN_NAME: "prefetchfiles-nri-plugin", NRI_PLUGIN_IDX: "03", NRI_PLUGIN_SOCKET: "3" },
    cwd: "/",
  });
  closeFd(pluginEnd);
  let connection: FakeRuntimeConnection | undefined;
  const socket = await Bun.connect({
    fd: runtimeEnd,
    socket: {
      binaryType: "uint8array",
      data: (_, chunk) => connection!.mux.data(chunk),
      close: () => connection?.mux.closed(),
    },
  });
  connection = new FakeRuntimeConnection(socketStream(socket), { config });
  return { plugin, socket, connection };
}
