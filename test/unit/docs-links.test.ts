/**
 * The docs stay inside the repository: every relative link of README.md and docs/ names a file of
 * the repository (and an anchor in it, when it has one), and nothing points to a file outside it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

// Reference pages that other work adds to docs/; the README's map links them already.
const ANNOUNCED = new Set(['docs/trust.md', 'docs/security.md', 'docs/change-detection.md', 'docs/types.md', 'docs/setup-page.md']);

const pages = ['README.md', ...fs.readdirSync('docs').filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

function anchors(file: string): Set<string> {
  const text = fs.readFileSync(file, 'utf8');
  const ids = new Set([...text.matchAll(/<a id="([^"]+)"><\/a>/g)].map((m) => m[1]!));
  for (const m of text.matchAll(/^#+ (.+)$/gm)) {
    ids.add(m[1]!.toLowerCase().replace(/<[^>]+>/g, '').replace(/[^\w\- ]/g, '').trim().replace(/ /g, '-'));
  }
  return ids;
}

test('every relative link in README.md and docs/ names a file of the repository and an anchor in it', () => {
  const problems: string[] = [];
  for (const page of pages) {
    const text = fs.readFileSync(page, 'utf8');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue; // a web address
      const [file, anchor] = target!.split('#');
      const resolved = file ? path.normalize(path.join(path.dirname(page), file)) : page;
      if (resolved.startsWith('..')) problems.push(`${page}: ${target} is outside the repository`);
      else if (!fs.existsSync(resolved)) {
        if (!ANNOUNCED.has(resolved)) problems.push(`${page}: ${target} does not exist`);
      } else if (anchor && resolved.endsWith('.md') && !anchors(resolved).has(anchor)) problems.push(`${page}: ${target} has no such anchor`);
    }
    if (/DESIGN\.md/.test(text)) problems.push(`${page} mentions DESIGN.md, which is not in the repository`);
  }
  assert.deepEqual(problems, []);
});

test('no source file points to a document outside the repository', () => {
  const offenders = fs
    .readdirSync('src', { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .filter((f) => /DESIGN\.md/.test(fs.readFileSync(path.join('src', f), 'utf8')));
  assert.deepEqual(offenders, []);
});
