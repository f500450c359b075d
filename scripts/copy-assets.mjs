// Copies what the compiled code reads at run time but tsc does not emit (SQL migrations) from src/
// to dist/, beside the modules that read them.
import fs from 'node:fs/promises';
import path from 'node:path';

const ASSETS = ['.sql'];
const entries = await fs.readdir('src', { recursive: true, withFileTypes: true });
let n = 0;
for (const e of entries) {
  if (!e.isFile() || !ASSETS.includes(path.extname(e.name))) continue;
  const from = path.join(e.parentPath ?? e.path, e.name);
  const to = path.join('dist', path.relative('src', from));
  await fs.mkdir(path.dirname(to), { recursive: true });
  await fs.copyFile(from, to);
  n++;
}
console.log(`copied ${n} assets to dist/`);
