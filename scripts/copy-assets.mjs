// Copies what the compiled code reads at run time but tsc does not emit (SQL migrations, the setup
// page's templates, script and style sheet) from src/ to dist/, beside the modules that read them.
import fs from 'node:fs/promises';
import path from 'node:path';

const ASSETS = ['.sql', '.eta', '.css'];
// Files served as they are (the setup page's browser script): everything in a folder named assets/.
const isAsset = (file) => ASSETS.includes(path.extname(file)) || file.split(path.sep).includes('assets');
const entries = await fs.readdir('src', { recursive: true, withFileTypes: true });
let n = 0;
for (const e of entries) {
  if (!e.isFile()) continue;
  const from = path.join(e.parentPath ?? e.path, e.name);
  if (!isAsset(path.relative('src', from))) continue;
  const to = path.join('dist', path.relative('src', from));
  await fs.mkdir(path.dirname(to), { recursive: true });
  await fs.copyFile(from, to);
  n++;
}
console.log(`copied ${n} assets to dist/`);
