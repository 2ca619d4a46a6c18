// Byte-exact checks against the worked examples of the NRI and ttrpc specs.
import { describe, expect, test } from "bun:test";
import { createClient } from "@connectrpc/connect";
import { Runtime, Plugin } from "../../src/gen/nri/pkg/api/v1alpha1/api_pb.ts";
import { Logger } from "../../src/log/logger.ts";
import { Mux } from "../../src/mux/mux.ts";
import type { PluginHandler } from "../../src/nri/handler.ts";
import { PluginService } from "../../src/nri/plugin-service.ts";
import { TtrpcClient } from "../../src/ttrpc/client.ts";
import { TtrpcServer } from "../../src/ttrpc/server.ts";
import { ascii, hex, muxFrame, RecordingStream, toHex } from "../support/memory-stream.ts";

const quietHandler: PluginHandler = { configure() {}, async runPodSandbox() {} };

function pluginEnd() {
  const stream = new RecordingStream();
  const mux = new Mux(stream);
  const server = new TtrpcServer(mux.open(1), Logger.discard());
  const service = new PluginService(quietHandler, Logger.discard());
  server.register(Plugin, service.impl());
  return { stream, mux, service };
}

describe("worked bytes (nri-protocol §1.3)", () => {
  test("RegisterPlugin is written as the spec's 91 bytes on connection 2", async () => {
    const stream = new RecordingStream();
    const mux = new Mux(stream);
    const client = createClient(Runtime, new TtrpcClient(mux.open(2)).transport());
    void client.registerPlugin(
      { pluginName: "test", pluginIdx: "10", NRIVersion: "v0.12.2" },
      { timeoutMs: 5000 },
    ).catch(() => {});
    const expected = hex(`
      00000002 00000053
      00000049 00000001 0100
      0a1c ${ascii("nri.pkg.api.v1alpha1.Runtime")}
      120e ${ascii("RegisterPlugin")}
      1a13 0a04 ${ascii("test")} 1202 ${ascii("10")} 1a07 ${ascii("v0.12.2")}
      2080e497d012`);
    expect(toHex(await stream.waitFor(91))).toBe(toHex(expected));
  });

  test("the runtime's empty success reply resolves the call", async () => {
    const stream = new RecordingStream();
    const mux = new Mux(stream);
    const client = createClient(Runtime, new TtrpcClient(mux.open(2)).transport());
    const call = client.registerPlugin({ pluginName: "test", pluginIdx: "10" });
    mux.data(hex("00000002 0000000a 00000000 00000001 0200"));
    expect(await call).toBeDefined();
  });

  test("Configure is answered with events 0x1 exactly as Go writes it (22 bytes)", async () => {
    const { stream, mux, service } = pluginEnd();
    mux.data(hex(`
      00000001 0000005d
      00000053 00000001 0100
      0a1b ${ascii("nri.pkg.api.v1alpha1.Plugin")}
      1209 ${ascii("Configure")}
      1a23 120a ${ascii("containerd")} 1a06 ${ascii("v2.3.0")} 208827 28d00f
           3207 ${ascii("v0.12.0")}
      2080a8d6b907`));
    const reply = await stream.waitFor(22);
    expect(toHex(reply)).toBe("00000001" + "0000000e" + "00000004000000010200" + "12021001");
    const runtime = await service.whenConfigured();
    expect(runtime).toMatchObject({
      name: "containerd",
      version: "v2.3.0",
      nriVersion: "v0.12.0",
      registrationTimeoutMs: 5000,
      requestTimeoutMs: 2000,
    });
  });

  test("an unknown method gets status 12 'method X' and the connection stays open", async () => {
    const { stream, mux } = pluginEnd();
    const body = hex(`0a1b ${ascii("nri.pkg.api.v1alpha1.Plugin")} 120a ${ascii("NoSuchCall")}`);
    mux.data(muxFrame(1, 1, 1, body));
    const reply = await stream.waitFor(8 + 10 + 23);
    expect(toHex(reply.subarray(18))).toBe("0a15" + "080c" + "1211" + ascii("method NoSuchCall"));
    expect(stream.closed).toBe(false);
  });
});
