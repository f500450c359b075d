/**
 * The compiled build (dist/) that `npm start` and the `sluice` bin run. `npm install` builds it; a
 * test that runs it rebuilds it first when a file under src/ is newer than the last build, so it
 * never tests stale code.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';

const BUILD_INFO = 'dist/.tsbuildinfo';

async function newest(dir: string): Promise<number> {
  let t = 0;
  for (const e of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) t = Math.max(t, (await fs.stat(path.join(e.parentPath, e.name))).mtimeMs);
  }
  return t;
}

export async function ensureBuilt(): Promise<void> {
  const built = await fs.stat(BUILD_INFO).then((s) => s.mtimeMs, () => 0);
  if (built >= (await newest('src'))) return;
  execFileSync('npm', ['run', 'build'], { stdio: 'inherit' });
}

/** `node bin/sluice.js …`, as `npx sluice …` runs it. */
export const SLUICE_BIN = ['bin/sluice.js'];
