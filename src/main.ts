import { main } from "./cli/main.ts";

// The bytecode build is CommonJS, so no top-level await here.
main(process.argv.slice(2), process.env).then((code) => process.exit(code));
