/**
 * The repository explains itself: what governs the code lives in docs/, every `docs/...` pointer
 * in the code resolves to a file, nothing points at material outside the repository, and the
 * operator-facing lists name every setting.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SETTINGS } from '../src/config.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

const sources = [
  ...['src', 'test', 'bench', 'scripts', 'docs', 'schemas'].flatMap((d) => walk(join(root, d))),
  join(root, 'README.md'),
  join(root, 'BENCHMARKS.md'),
]
  .filter((f) => /\.(ts|js|md|json)$/.test(f))
  .filter((f) => !f.includes(`${join('test', 'fixtures')}`));

describe('docs/', () => {
  it('nothing points at files outside the repository', () => {
    const outside = /\b(DECISIONS|INTERFACES|STYLE)\.md\b|shared\/|\b00[03]_[.\w]*\.txt\b/;
    const hits = sources.flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .map((line, i) => [line, i] as const)
        .filter(([line]) => outside.test(line))
        .map(([line, i]) => `${relative(root, f)}:${i + 1}: ${line.trim()}`),
    );
    // This file names the patterns it looks for.
    assert.deepEqual(
      hits.filter((h) => !h.startsWith(join('test', 'docs.test.ts'))),
      [],
    );
  });

  it('every docs/ pointer resolves to a file', () => {
    const decisions = readdirSync(join(root, 'docs', 'decisions'));
    const broken: string[] = [];
    for (const f of sources) {
      // `docs/decisions/0004`, `docs/decisions/0004-record-and-request-limits.md`, `docs/interfaces.md` (not other repositories' docs/ paths).
      for (const m of readFileSync(f, 'utf8').matchAll(/(?<![\w/.-])docs\/(?:decisions\/(\d{4}[\w.-]*)|([\w-]+\.md))/g)) {
        const [whole, decision, file] = m;
        const ok = decision
          ? decisions.some((d) => d === decision || d.startsWith(`${decision.replace(/\.md$/, '')}-`) || d === `${decision}.md`)
          : existsSync(join(root, 'docs', file!));
        if (!ok) broken.push(`${relative(root, f)}: ${whole}`);
      }
    }
    assert.deepEqual(broken, []);
  });

  it('each decision record has context, decision and consequences', () => {
    const files = readdirSync(join(root, 'docs', 'decisions')).filter((f) => /^\d{4}-.+\.md$/.test(f));
    assert.ok(files.length >= 10);
    const index = readFileSync(join(root, 'docs', 'decisions', 'README.md'), 'utf8');
    for (const f of files) {
      const text = readFileSync(join(root, 'docs', 'decisions', f), 'utf8');
      for (const h of ['## Context', '## Decision', '## Consequences']) assert.ok(text.includes(h), `${f} lacks ${h}`);
      assert.ok(index.includes(`(${f})`), `docs/decisions/README.md does not list ${f}`);
    }
  });

  it('docs/interfaces.md and the README name every setting', () => {
    const interfaces = readFileSync(join(root, 'docs', 'interfaces.md'), 'utf8');
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    for (const s of SETTINGS) {
      assert.ok(interfaces.includes(`\`${s.env}\``), `docs/interfaces.md lacks ${s.env}`);
      assert.ok(readme.includes(`\`${s.env}\``), `README lacks ${s.env}`);
    }
  });
});
