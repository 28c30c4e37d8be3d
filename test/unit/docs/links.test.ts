/**
 * Every relative link in the project's Markdown (README.md, docs/, the workspaces' and libraries'
 * READMEs, bench/) points at a file that exists, and every `#anchor` at a heading of that file.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../../..');
const skip = new Set(['node_modules', '.git', 'dist', '.local', 'test-results', 'coverage']);

function markdownFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (skip.has(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...markdownFiles(path));
    else if (name.endsWith('.md')) out.push(path);
  }
  return out;
}

/** Lines outside fenced code blocks, with inline code removed. */
function prose(text: string): string[] {
  let fenced = false;
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      continue;
    }
    if (!fenced) out.push(line.replace(/`[^`]*`/g, ''));
  }
  return out;
}

/** GitHub's heading anchors (github-slugger rules, with -1, -2… for repeats). */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of text.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const m = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m?.[1]) continue;
    const base = m[1]
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

const files = markdownFiles(root);

describe('Markdown links', () => {
  it('finds the documents', () => {
    const names = files.map((f) => relative(root, f));
    for (const must of ['README.md', 'docs/imports.md', 'emulator/README.md', 'devhost/README.md']) {
      expect(names).toContain(must);
    }
  });

  it.each(files.map((f) => [relative(root, f), f]))(
    '%s: every relative link and anchor resolves',
    (_, file) => {
      const text = readFileSync(file, 'utf8');
      const broken: string[] = [];
      for (const line of prose(text)) {
        for (const m of line.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
          const target = m[1] as string;
          if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
          const [pathPart, anchor] = target.split('#', 2) as [string, string | undefined];
          const targetFile = pathPart === '' ? file : resolve(dirname(file), decodeURIComponent(pathPart));
          if (!existsSync(targetFile)) {
            broken.push(`${target} (no such file)`);
            continue;
          }
          if (anchor !== undefined && targetFile.endsWith('.md')) {
            if (!anchors(readFileSync(targetFile, 'utf8')).has(anchor))
              broken.push(`${target} (no such heading)`);
          }
        }
      }
      expect(broken).toEqual([]);
    },
  );
});
