import { dirname, join } from "node:path";
import type { PodSpec } from "../harness/harness.ts";

/** The annotation key the plugin reads. */
export const PREFETCH_KEY = "containerd.io/nydus-prefetch";

/**
 * The sample pod's annotation value written out byte for byte: the YAML `|`
 * block, indented, with the trailing space after the image line and the final
 * newline (test/unit/annotation.test.ts checks it against the fixture).
 */
export const SAMPLE_VALUE = "[\n" +
  "    {\n" +
  '        "image": "ghcr.io/dragonflyoss/image-service/wordpress:nydus-nightly-v6", \n' +
  '        "prefetch": "http://example.com/api/v1/resource/wordpress"\n' +
  "    }\n" +
  "]\n";

interface CrictlPod {
  metadata: { name: string; namespace: string; uid: string };
  annotations: Record<string, string>;
}

/**
 * The sample pod from the nydus document (test/fixtures/wordpress-pod.yaml),
 * its annotation exactly as the YAML block scalar yields it.
 */
export async function samplePod(id = "sandbox-wordpress"): Promise<PodSpec> {
  const file = join(import.meta.dir, "../fixtures/wordpress-pod.yaml");
  const pod = Bun.YAML.parse(await Bun.file(file).text()) as CrictlPod;
  return { id, ...pod.metadata, annotations: pod.annotations };
}

/** A pod without the annotation. */
export function plainPod(id = "sandbox-plain"): PodSpec {
  return { id, name: "plain", namespace: "default", uid: "uid-plain", annotations: {} };
}

/**
 * The .conf the nydus document shows, pointed at a test socket, plus `extra`.
 * Unless `extra` says otherwise, the log file sits beside the socket and
 * syslog is off, so a test never writes the machine's logs.
 */
export async function sampleConf(socket: string, extra = ""): Promise<string> {
  const file = join(import.meta.dir, "../fixtures/prefetchfiles-nri-plugin.conf");
  const text = await Bun.file(file).text();
  const log = extra.includes("log_file") ? "" : `log_file = "${dirname(socket)}/plugin.log"\n`;
  const syslog = extra.includes("syslog_socket") ? "" : 'syslog_socket = ""\n';
  return text.replace("/run/containerd-nydus/system.sock", socket) + log + syslog + extra;
}
