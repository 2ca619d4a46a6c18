/**
 * A FIFO of received bytes that the multiplexer parses frames from. Chunks
 * are kept as they arrive; bytes are copied on read only when a read spans
 * chunks or would otherwise pin a much larger buffer.
 */
export class ByteQueue {
  private chunks: Uint8Array[] = [];
  private head = 0; // bytes of chunks[0] already consumed
  private size = 0;

  /** Bytes available to read. */
  get length(): number {
    return this.size;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  /** Big-endian u32 at `offset` from the front; the caller checks length first. */
  peekUint32(offset: number): number {
    let value = 0;
    for (let i = 0; i < 4; i++) value = value * 256 + this.peekByte(offset + i);
    return value;
  }

  /**
   * Removes and returns the next `n` bytes; the caller checks length first.
   * A view into a received chunk is returned only when it covers most of it,
   * so a small slice kept by the layer above never pins a large read.
   */
  read(n: number): Uint8Array {
    const first = this.chunks[0];
    if (first && first.length - this.head >= n) {
      const view = first.subarray(this.head, this.head + n);
      this.consume(n);
      return n * 2 >= first.buffer.byteLength ? view : view.slice();
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0]!;
      const take = Math.min(n - filled, chunk.length - this.head);
      out.set(chunk.subarray(this.head, this.head + take), filled);
      filled += take;
      this.consume(take);
    }
    return out;
  }

  /** Drops up to `n` bytes without copying them; returns how many were dropped. */
  skip(n: number): number {
    const dropped = Math.min(n, this.size);
    let left = dropped;
    while (left > 0) {
      const available = this.chunks[0]!.length - this.head;
      const take = Math.min(left, available);
      this.consume(take);
      left -= take;
    }
    return dropped;
  }

  private peekByte(offset: number): number {
    let at = offset + this.head;
    for (const chunk of this.chunks) {
      if (at < chunk.length) return chunk[at]!;
      at -= chunk.length;
    }
    throw new RangeError(`peek past the end of the queue (offset ${offset})`);
  }

  private consume(n: number): void {
    this.head += n;
    this.size -= n;
    while (this.chunks.length > 0 && this.head >= this.chunks[0]!.length) {
      this.head -= this.chunks[0]!.length;
      this.chunks.shift();
    }
  }
}
