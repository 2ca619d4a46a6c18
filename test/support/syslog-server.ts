import { dlopen, FFIType, ptr } from "bun:ffi";

const libc = dlopen("libc.so.6", {
  socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  recv: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64 },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
}).symbols;

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;

/**
 * A syslog daemon's socket for tests: a Unix datagram socket bound in a
 * temporary folder, whose messages are collected by polling.
 */
export class SyslogServer {
  readonly messages: string[] = [];
  private readonly fd: number;
  private readonly timer: Timer;

  constructor(readonly path: string) {
    const address = Buffer.alloc(110);
    address.writeUInt16LE(AF_UNIX, 0);
    address.write(path, 2);
    this.fd = libc.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (this.fd < 0 || libc.bind(this.fd, ptr(address), address.length) !== 0) {
      throw new Error(`cannot bind a datagram socket at ${path}`);
    }
    this.timer = setInterval(() => this.drain(), 10);
  }

  /** Waits for a message containing `text`. */
  async waitFor(text: string, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.drain();
      const found = this.messages.find((message) => message.includes(text));
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no syslog message with "${text}"`);
      await Bun.sleep(20);
    }
  }

  close(): void {
    clearInterval(this.timer);
    libc.close(this.fd);
  }

  private drain(): void {
    const buffer = Buffer.alloc(65536);
    for (;;) {
      const n = Number(libc.recv(this.fd, ptr(buffer), buffer.length, 0));
      if (n <= 0) return;
      this.messages.push(buffer.subarray(0, n).toString());
    }
  }
}
