import { dlopen, FFIType, ptr, read } from "bun:ffi";
import type { Level, Sink } from "./logger.ts";

/** The tag the Go plugin logs under, so existing syslog filters keep matching. */
export const SYSLOG_TAG = "prefetch-nri-plugin";
export const DEFAULT_SYSLOG_SOCKET = "/dev/log";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SUN_PATH_MAX = 108;
const FACILITY_DAEMON = 3;
const SEVERITY: Record<Level, number> = { debug: 7, info: 6, warn: 4, error: 3 };

// Bun has no Unix datagram sockets, so the few libc calls syslog needs are made directly.
let libc: ReturnType<typeof openLibc> | undefined;
function openLibc() {
  return dlopen("libc.so.6", {
    socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    connect: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    send: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64 },
    close: { args: [FFIType.i32], returns: FFIType.i32 },
    __errno_location: { args: [], returns: FFIType.ptr },
  }).symbols;
}

/** Raised when the syslog socket cannot be used; the message says why. */
export class SyslogError extends Error {
  override name = "SyslogError";
}

/**
 * Lines to the local syslog daemon over its Unix datagram socket, in the
 * traditional local format: "<PRI>Mmm dd hh:mm:ss TAG[PID]: line". Sending
 * never blocks: a line the daemon cannot take right now is dropped.
 */
export class SyslogSink implements Sink {
  private fd: number;

  constructor(readonly path = DEFAULT_SYSLOG_SOCKET, private readonly tag = SYSLOG_TAG) {
    libc ??= openLibc();
    this.fd = connectDatagram(path);
  }

  write(line: string, level: Level): void {
    const message = Buffer.from(`${header(level, this.tag)}${line}`);
    if (Number(libc!.send(this.fd, ptr(message), message.length, 0)) >= 0) return;
    this.reconnect(); // the daemon may have restarted; one more try, then drop the line
    libc!.send(this.fd, ptr(message), message.length, 0);
  }

  close(): void {
    libc!.close(this.fd);
  }

  private reconnect(): void {
    try {
      const fd = connectDatagram(this.path);
      libc!.close(this.fd);
      this.fd = fd;
    } catch {
      // still unreachable: keep the old descriptor and drop lines until it comes back
    }
  }
}

function connectDatagram(path: string): number {
  const address = Buffer.alloc(2 + SUN_PATH_MAX);
  address.writeUInt16LE(AF_UNIX, 0);
  if (Buffer.byteLength(path) >= SUN_PATH_MAX) throw new SyslogError(`${path}: path too long`);
  address.write(path, 2);
  const fd = libc!.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new SyslogError(`cannot create a socket for ${path} (errno ${errno()})`);
  if (libc!.connect(fd, ptr(address), address.length) !== 0) {
    const code = errno();
    libc!.close(fd);
    throw new SyslogError(`cannot connect to syslog socket ${path} (errno ${code})`);
  }
  return fd;
}

function errno(): number {
  return read.i32(libc!.__errno_location()!, 0);
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
  "Dec"];

function header(level: Level, tag: string, now = new Date()): string {
  const day = String(now.getDate()).padStart(2, " ");
  const time = now.toTimeString().slice(0, 8);
  const priority = FACILITY_DAEMON * 8 + SEVERITY[level];
  return `<${priority}>${MONTHS[now.getMonth()]} ${day} ${time} ${tag}[${process.pid}]: `;
}
