// Bun.connect accepts an inherited file descriptor ({ fd }) at run time, but
// @types/bun has no overload for it. This is the one used for fd 3 from the runtime.
import "bun";

declare module "bun" {
  function connect<Data = undefined>(options: FdSocketOptions<Data>): Promise<Socket<Data>>;
}
