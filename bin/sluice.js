#!/usr/bin/env node
// The `sluice` command runs the compiled CLI in dist/, which `npm install` builds (the `prepare` script).
import { existsSync } from 'node:fs';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  console.error('sluice: dist/ is missing. Run `npm install` (or `npm run build`) in the Sluice folder first.');
  process.exit(1);
}
await import(main.href);
