import { closeSync, openSync, readSync } from "node:fs";

/** What the release checks in a compiled executable, read from its ELF headers. */
export interface ElfFacts {
  /** "x86-64", "aarch64" or `machine 0x..` for anything else. */
  machine: string;
  /** Section names in file order. */
  sections: string[];
  /** The highest GLIBC_2.N symbol version the executable needs, e.g. "2.17". */
  glibc: string | undefined;
}

const MACHINES: Record<number, string> = { 0x3e: "x86-64", 0xb7: "aarch64" };
const SHT_GNU_VERNEED = 0x6ffffffe;

/** Reads an ELF64 little-endian executable's machine, section names and glibc floor. */
export function readElf(path: string): ElfFacts {
  const fd = openSync(path, "r");
  try {
    const read = (offset: number, length: number): DataView => {
      const bytes = new Uint8Array(length);
      const got = readSync(fd, bytes, 0, length, offset);
      if (got !== length) throw new Error(`${path}: short read at ${offset}`);
      return new DataView(bytes.buffer);
    };
    const header = read(0, 64);
    if (header.getUint32(0, false) !== 0x7f454c46) throw new Error(`${path}: not an ELF file`);
    if (header.getUint8(4) !== 2 || header.getUint8(5) !== 1) {
      throw new Error(`${path}: not a 64-bit little-endian ELF file`);
    }
    const machineCode = header.getUint16(0x12, true);
    const shoff = Number(header.getBigUint64(0x28, true));
    const shentsize = header.getUint16(0x3a, true);
    const shnum = header.getUint16(0x3c, true);
    const shstrndx = header.getUint16(0x3e, true);
    const table = read(shoff, shentsize * shnum);
    const section = (index: number) => {
      const at = index * shentsize;
      return {
        name: table.getUint32(at, true),
        type: table.getUint32(at + 4, true),
        offset: Number(table.getBigUint64(at + 0x18, true)),
        size: Number(table.getBigUint64(at + 0x20, true)),
        link: table.getUint32(at + 0x28, true),
      };
    };
    const bytesOf = (index: number) => {
      const { offset, size } = section(index);
      return read(offset, size);
    };
    const names = bytesOf(shstrndx);
    const sections: string[] = [];
    let glibc: string | undefined;
    for (let index = 0; index < shnum; index++) {
      const entry = section(index);
      sections.push(cString(names, entry.name));
      if (entry.type === SHT_GNU_VERNEED) glibc = glibcFloor(bytesOf(index), bytesOf(entry.link));
    }
    return { machine: MACHINES[machineCode] ?? `machine 0x${machineCode.toString(16)}`,
      sections, glibc };
  } finally {
    closeSync(fd);
  }
}

/** Walks the version-needed entries and returns the highest GLIBC_2.N named. */
function glibcFloor(verneed: DataView, strings: DataView): string | undefined {
  let best: number[] | undefined;
  let at = 0;
  for (;;) {
    const count = verneed.getUint16(at + 2, true);
    let aux = at + verneed.getUint32(at + 8, true);
    for (let i = 0; i < count; i++) {
      const match = /^GLIBC_(\d+(?:\.\d+)*)$/.exec(cString(strings, verneed.getUint32(aux + 8, true)));
      if (match) {
        const parts = match[1]!.split(".").map(Number);
        if (!best || compareVersions(parts, best) > 0) best = parts;
      }
      const next = verneed.getUint32(aux + 12, true);
      if (next === 0) break;
      aux += next;
    }
    const next = verneed.getUint32(at + 12, true);
    if (next === 0) break;
    at += next;
  }
  return best?.join(".");
}

function compareVersions(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const diff = (a[i] ?? 0) - (b[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

function cString(view: DataView, offset: number): string {
  let end = offset;
  while (end < view.byteLength && view.getUint8(end) !== 0) end++;
  return new TextDecoder().decode(new Uint8Array(view.buffer, view.byteOffset + offset, end - offset));
}
