import { dlopen, FFIType, ptr } from "bun:ffi";

const libc = dlopen("libc.so.6", {
  socketpair: { args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
});

const AF_UNIX = 1;
const SOCK_STREAM = 1;

/**
 * A connected pair of Unix stream sockets, as a runtime makes for a plugin it
 * launches: one end for the test (the runtime's side), one for the child's fd 3.
 */
export function socketpair(): [number, number] {
  const fds = new Int32Array(2);
  if (libc.symbols.socketpair(AF_UNIX, SOCK_STREAM, 0, ptr(fds)) !== 0) {
    throw new Error("socketpair failed");
  }
  return [fds[0]!, fds[1]!];
}

export function closeFd(fd: number): void {
  libc.symbols.close(fd);
}
