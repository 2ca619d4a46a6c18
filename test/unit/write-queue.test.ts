import { expect, test } from "bun:test";
import { WriteQueue } from "../../src/socket/write-queue.ts";

/** A socket stand-in that takes at most `room` bytes until given more. */
function socket() {
  const state = { room: 0, taken: [] as number[] };
  const write = (bytes: Uint8Array) => {
    if (state.room <= 0) return -1; // Bun's way of saying nothing was written
    const n = Math.min(bytes.length, state.room);
    state.room -= n;
    state.taken.push(...bytes.subarray(0, n));
    return n;
  };
  return { state, write };
}

test("what the socket does not take is written later, in order", () => {
  const { state, write } = socket();
  const queue = new WriteQueue(write);
  state.room = 2;
  queue.push(new Uint8Array([1, 2, 3]));
  queue.push(new Uint8Array([4, 5]));
  expect(state.taken).toEqual([1, 2]);
  expect(queue.flush()).toBe(false); // no room: nothing more, nothing lost
  state.room = 10;
  expect(queue.flush()).toBe(true);
  expect(state.taken).toEqual([1, 2, 3, 4, 5]);
});

test("clear forgets what waits", () => {
  const { state, write } = socket();
  const queue = new WriteQueue(write);
  queue.push(new Uint8Array([1]));
  queue.clear();
  state.room = 10;
  expect(queue.flush()).toBe(true);
  expect(state.taken).toEqual([]);
});
