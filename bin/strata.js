#!/usr/bin/env -S node --max-semi-space-size=4
// The bundled CLI lives in dist/bundle/ (built by `npm install` through the prepare script).
// V8 grows its young generation's semi-spaces up to 16 MiB each as a command allocates; Node
// takes their bound only from its command line, hence the flag above. At 4 MiB a no-op re-sync
// of 50,000 files peaks at 136 MB instead of 158, an upload and a download 20-30 MB lower, at no
// measured cost in CPU (docs/design-notes.md "The young generation bounded from the shebang").
// `node bin/strata.js` runs without it: the same commands, with V8's defaults.
import { main } from "../dist/bundle/strata.js";

process.exitCode = await main(process.argv);
