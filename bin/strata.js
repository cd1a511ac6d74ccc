#!/usr/bin/env node
// The bundled CLI lives in dist/bundle/ (built by `npm install` through the prepare script).
import { main } from "../dist/bundle/strata.js";

process.exitCode = await main(process.argv);
