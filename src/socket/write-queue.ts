/**
 * Bytes waiting to be written to a socket. Bun's socket.write() may take only
 * part of a buffer when the kernel's send buffer is full; the rest waits here,
 * in order, until the socket's `drain` calls `flush`.
 */
export class WriteQueue {
  private pending: Uint8Array[] = [];

  /** `write` writes what it can and returns how many bytes it took (negative: none). */
  constructor(private readonly write: (bytes: Uint8Array) => number) {}

  /** Writes `bytes` now, or after what is already waiting. */
  push(bytes: Uint8Array): void {
    this.pending.push(bytes);
    if (this.pending.length === 1) this.flush();
  }

  /** Writes what is waiting, as far as the socket takes it; true once nothing waits. */
  flush(): boolean {
    while (this.pending.length > 0) {
      const next = this.pending[0]!;
      const written = Math.max(this.write(next), 0);
      if (written < next.length) {
        this.pending[0] = next.subarray(written);
        return false;
      }
      this.pending.shift();
    }
    return true;
  }

  /** Forgets what is waiting (the socket is gone). */
  clear(): void {
    this.pending = [];
  }
}
