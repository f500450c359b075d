#!/usr/bin/env node
// Thin launcher so `npx sluice …` works without a build step: tsx compiles on the fly.
import { register } from 'tsx/esm/api';
register();
await import('../src/cli/main.ts');
