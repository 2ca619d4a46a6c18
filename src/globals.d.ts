// @connectrpc/connect's declarations name the DOM type HeadersInit; Bun has its own.
type HeadersInit = Bun.HeadersInit;
