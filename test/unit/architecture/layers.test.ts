/**
 * The import rules of the house, checked on every import of src/, emulator/ and devhost/:
 *
 * - src/ layers point one way: functions → orchestrators → activities → shared (a layer may skip
 *   the ones between); src/index.ts (the entry) may import them all; dashboard/ and cli/ stand
 *   beside functions/ on shared/ (functions/ may serve dashboard/).
 * - Inside a layer, `common/` serves the workflow folders (imports/, exports/, recurring/, chains/,
 *   batches/) and never imports them.
 * - src/ never imports emulator/ or devhost/; they never import src/.
 * - emulator/ and devhost/ are npm workspaces: a file inside one imports by relative path only files
 *   of its own workspace (another workspace by its package name, never test/ or bench/), and a file
 *   outside (test/, bench/, scripts/) reaches a workspace only through its package name and exports
 *   (`@dmf-functions/devhost/testing`, never `../../devhost/…`).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../../..');
const SCANNED = ['src', 'emulator', 'devhost', 'test', 'bench', 'scripts'];
const WORKSPACES = new Set(['emulator', 'devhost']);
const SOURCE = /\.(?:ts|mts|cts|js|mjs|cjs)$/;

/** One import: the importing file and the file or folder it names, both from the repository root. */
interface Edge {
  from: string;
  to: string;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    if (name === 'node_modules' || name === 'dist') continue;
    const path = `${dir}/${name}`;
    if (statSync(join(ROOT, path)).isDirectory()) out.push(...sourceFiles(path));
    else if (SOURCE.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Every relative import (static, re-export, side effect, dynamic, require) of a file. */
function importsOf(file: string): Edge[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const { importedFiles } = ts.preProcessFile(text, true, true);
  return importedFiles
    .map((i) => i.fileName)
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => ({
      from: file,
      to: relative(ROOT, resolve(ROOT, dirname(file), spec))
        .split('\\')
        .join('/'),
    }));
}

/** Where a path stands: `src:<layer>` (and its workflow folder), `emulator`, `devhost` or `other`. */
function placeOf(path: string): { area: string; layer?: string; folder?: string } {
  const parts = path.split('/');
  if (parts[0] === 'src') {
    if (parts.length === 2) return { area: 'src', layer: parts[1] === 'index.ts' ? 'entry' : 'other' };
    return { area: 'src', layer: parts[1], ...(parts.length > 3 ? { folder: parts[2] } : {}) };
  }
  if (parts[0] === 'emulator' || parts[0] === 'devhost') return { area: parts[0] };
  return { area: 'other' };
}

/** What each src/ layer may import (besides itself and npm packages). */
const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = {
  entry: ['functions', 'orchestrators', 'activities', 'shared'],
  functions: ['orchestrators', 'activities', 'shared', 'dashboard'],
  orchestrators: ['activities', 'shared'],
  activities: ['shared'],
  shared: [],
  dashboard: ['shared'],
  cli: ['shared'],
};
const WORKFLOWS = new Set(['imports', 'exports', 'recurring', 'chains', 'batches']);

/** The rule an import breaks, or undefined. */
function violation(edge: Edge): string | undefined {
  const from = placeOf(edge.from);
  const to = placeOf(edge.to);
  if (from.area === 'src' && (to.area === 'emulator' || to.area === 'devhost'))
    return `src/ imports ${to.area}/ (they are stand-ins the app never reaches into)`;
  if ((from.area === 'emulator' || from.area === 'devhost') && to.area === 'src')
    return `${from.area}/ imports src/ (the stand-ins never depend on the app)`;
  if (WORKSPACES.has(from.area) && to.area !== from.area)
    return `${from.area}/ imports ${edge.to.split('/')[0] ?? ''}/ by path (a workspace imports only its own files; others by package name)`;
  if (WORKSPACES.has(to.area) && to.area !== from.area)
    return `imports ${to.area}/ by path (use @dmf-functions/${to.area} and its exports)`;
  if (from.area !== 'src' || to.area !== 'src') return undefined;
  const allowed = MAY_IMPORT[from.layer ?? ''];
  if (!allowed) return `src/${from.layer ?? ''} is no layer (${Object.keys(MAY_IMPORT).join(', ')})`;
  if (to.layer === 'entry') return 'imports the entry (src/index.ts)';
  if (to.layer !== from.layer && !allowed.includes(to.layer ?? ''))
    return `${from.layer} imports ${to.layer ?? 'src/'} against the layer order (functions → orchestrators → activities → shared)`;
  if (to.layer === from.layer && from.folder === 'common' && WORKFLOWS.has(to.folder ?? ''))
    return `${from.layer}/common imports the ${to.folder} workflow (common serves the workflows, not the other way)`;
  return undefined;
}

describe('import rules', () => {
  const edges = SCANNED.flatMap((dir) => sourceFiles(dir)).flatMap(importsOf);

  it('reads the imports of the whole tree', () => {
    // a parser that found nothing would pass every rule: make sure it sees known imports
    expect(edges.length).toBeGreaterThan(300);
    expect(edges).toContainEqual({ from: 'src/index.ts', to: 'src/functions/index.js' });
    expect(edges.some((e) => e.from.startsWith('devhost/') && e.to.startsWith('devhost/'))).toBe(true);
    expect(edges.some((e) => e.from.startsWith('emulator/') && e.to.startsWith('emulator/'))).toBe(true);
    expect(edges.some((e) => e.from.startsWith('test/') && e.to.startsWith('src/'))).toBe(true);
  });

  it('every import follows them', () => {
    const broken = edges.flatMap((e) => {
      const why = violation(e);
      return why ? [`${e.from} → ${e.to}: ${why}`] : [];
    });
    expect(broken).toEqual([]);
  });

  it('knows a broken rule when it sees one', () => {
    const cases: [string, string][] = [
      ['src/activities/imports/prepare.ts', 'src/orchestrators/imports/slot.js'],
      ['src/activities/common/results.ts', 'src/functions/common/rejections.js'],
      ['src/orchestrators/imports/importPackage.ts', 'src/functions/imports/starting.js'],
      ['src/shared/jobs/imports.ts', 'src/activities/imports/prepare.js'],
      ['src/shared/app/activity.ts', 'src/orchestrators/common/call.js'],
      ['src/cli/main.ts', 'src/functions/common/jobs.js'],
      ['src/functions/common/jobs.ts', 'src/functions/imports/starting.js'],
      ['src/orchestrators/common/polling.ts', 'src/orchestrators/recurring/recurringImport.js'],
      ['src/functions/imports/blob.ts', 'src/index.js'],
      ['src/shared/events/index.ts', 'devhost/servicebus/broker.js'],
      ['src/activities/recurring/drain.ts', 'emulator/engine.js'],
      ['devhost/servicebus/broker.ts', 'src/shared/errors.js'],
      ['emulator/engine.ts', 'src/shared/dmf/index.js'],
      ['devhost/test/durable.test.ts', 'test/support/replay.js'],
      ['devhost/start.ts', 'emulator/index.js'],
      ['devhost/stack.ts', 'bench/support/trust-emulator-ca.js'],
      ['test/e2e/helpers.ts', 'devhost/stack.js'],
      ['test/e2e/large-files.test.ts', 'devhost/test/support/http.js'],
      ['bench/host/durable.ts', 'devhost/index.js'],
      ['test/unit/x.test.ts', 'emulator/index.js'],
    ];
    for (const [from, to] of cases) expect(violation({ from, to }), `${from} → ${to}`).toBeDefined();
    const fine: [string, string][] = [
      ['src/functions/imports/starting.ts', 'src/orchestrators/imports/slot.js'],
      ['src/functions/common/jobFiles.ts', 'src/dashboard/files.js'],
      ['src/orchestrators/imports/importPackage.ts', 'src/activities/imports/index.js'],
      ['src/orchestrators/imports/slot.ts', 'src/orchestrators/common/call.js'],
      ['src/activities/recurring/drain.ts', 'src/shared/util.js'],
      ['src/index.ts', 'src/activities/index.js'],
      ['devhost/index.ts', 'devhost/durable/engine.js'],
      ['devhost/test/durable.test.ts', 'devhost/testing.js'],
      ['test/e2e/helpers.ts', 'src/shared/jobs/index.js'],
      ['bench/jobs/list.ts', 'bench/support/trust-emulator-ca.js'],
    ];
    for (const [from, to] of fine) expect(violation({ from, to }), `${from} → ${to}`).toBeUndefined();
  });
});
