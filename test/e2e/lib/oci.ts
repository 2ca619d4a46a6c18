// Packs a one-file OCI image (the pause program) as an OCI image-layout tarball that
// `ctr images import` accepts. Every timestamp is zero, so the same binary always gives the
// same digests.
import { createHash } from "node:crypto";

export interface TarEntry {
  path: string;
  /** Contents of a regular file; a directory has none. */
  data?: Uint8Array;
  mode: number;
}

const BLOCK = 512;
const encoder = new TextEncoder();

/** A ustar archive of entries, ending with the two zero blocks. */
export function tar(entries: TarEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const entry of entries) {
    const data = entry.data ?? new Uint8Array();
    parts.push(tarHeader(entry, data.length), data, new Uint8Array(padding(data.length)));
  }
  parts.push(new Uint8Array(2 * BLOCK));
  return concat(parts);
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

function tarHeader(entry: TarEntry, size: number): Uint8Array {
  const isDir = entry.data === undefined;
  const name = isDir && !entry.path.endsWith("/") ? `${entry.path}/` : entry.path;
  if (encoder.encode(name).length > 100) throw new Error(`tar path too long: ${name}`);
  const header = new Uint8Array(BLOCK);
  const put = (offset: number, text: string) => header.set(encoder.encode(text), offset);
  const octal = (value: number, width: number) => value.toString(8).padStart(width - 1, "0");
  put(0, name);
  put(100, octal(entry.mode, 8));
  put(108, octal(0, 8)); // uid
  put(116, octal(0, 8)); // gid
  put(124, octal(size, 12));
  put(136, octal(0, 12)); // mtime
  put(148, " ".repeat(8)); // checksum is summed with its own field as spaces
  put(156, isDir ? "5" : "0");
  put(257, "ustar\u000000");
  const checksum = header.reduce((sum, byte) => sum + byte, 0);
  put(148, `${octal(checksum, 7)}\u0000 `);
  return header;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

interface Blob {
  digest: string;
  size: number;
  bytes: Uint8Array;
}

function blob(bytes: Uint8Array): Blob {
  const hex = createHash("sha256").update(bytes).digest("hex");
  return { digest: `sha256:${hex}`, size: bytes.length, bytes };
}

function jsonBlob(value: unknown): Blob {
  return blob(encoder.encode(JSON.stringify(value)));
}

export interface ImageSpec {
  /** Full reference the image is stored under, e.g. `e2e.invalid/pause:1`. */
  reference: string;
  /** The single program; it becomes `/<entrypointName>` in the image. */
  program: Uint8Array;
  entrypointName: string;
  /** OCI architecture name, e.g. amd64. */
  architecture: string;
}

/** The OCI image-layout tarball of a single-layer, single-platform image. */
export function imageArchive(spec: ImageSpec): Uint8Array {
  const layer = blob(tar([{ path: spec.entrypointName, data: spec.program, mode: 0o755 }]));
  const platform = { architecture: spec.architecture, os: "linux" };
  const config = jsonBlob({
    ...platform,
    config: { Entrypoint: [`/${spec.entrypointName}`] },
    rootfs: { type: "layers", diff_ids: [layer.digest] },
  });
  const manifest = jsonBlob({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: descriptor("application/vnd.oci.image.config.v1+json", config),
    layers: [descriptor("application/vnd.oci.image.layer.v1.tar", layer)],
  });
  const index = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [
      {
        ...descriptor("application/vnd.oci.image.manifest.v1+json", manifest),
        platform,
        annotations: { "io.containerd.image.name": spec.reference },
      },
    ],
  };
  return tar([
    { path: "oci-layout", data: encoder.encode('{"imageLayoutVersion":"1.0.0"}'), mode: 0o644 },
    { path: "index.json", data: encoder.encode(JSON.stringify(index)), mode: 0o644 },
    { path: "blobs", mode: 0o755 },
    { path: "blobs/sha256", mode: 0o755 },
    ...[layer, config, manifest].map(blobEntry),
  ]);
}

function descriptor(mediaType: string, content: Blob) {
  return { mediaType, digest: content.digest, size: content.size };
}

function blobEntry(content: Blob): TarEntry {
  const hex = content.digest.slice("sha256:".length);
  return { path: `blobs/sha256/${hex}`, data: content.bytes, mode: 0o644 };
}

/** Node's process.arch as an OCI architecture name. */
export function ociArchitecture(arch: string = process.arch): string {
  const names: Record<string, string> = { x64: "amd64", arm64: "arm64", ppc64: "ppc64le" };
  return names[arch] ?? arch;
}
