/**
 * The build `npm start` runs (`tsx scripts/build.ts`): skipped when `dist/` is current — no file
 * under the compiled folders (src, bin), no tsconfig, `package.json` or
 * `package-lock.json` changed, appeared or went away since the last build, and `dist/` still holds
 * the app's entry — otherwise `tsc --incremental`, which checks and emits again only what changed
 * (its build info in `.local/build/`). `npm run build` (and so `npm test`) keeps the full build.
 *
 *   npx tsx scripts/build.ts [--force]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const STATE_DIR = join(ROOT, '.local', 'build');
const STAMP = join(STATE_DIR, 'stamp.json');
const BUILD_INFO = join(STATE_DIR, 'tsconfig.build.tsbuildinfo');
/** What `tsconfig.build.json` compiles, and what decides how. */
const SOURCE_DIRS = ['src', 'bin'];
const CONFIG_FILES = ['tsconfig.json', 'tsconfig.build.json', 'package.json', 'package-lock.json'];
/** A file the app cannot start without: gone means `dist/` was cleaned. */
const ENTRY = join(ROOT, 'dist', 'src', 'index.js');

/** What the last build saw: when it started, and every input with its mtime. */
interface Stamp {
  startedAtMs: number;
  inputs: Record<string, number>;
}

/** Every input file of the build with its mtime (ms), by path relative to the project root. */
export function buildInputs(root: string = ROOT): Record<string, number> {
  const inputs: Record<string, number> = {};
  const walk = (dir: string): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(path);
      } else if (/\.(ts|mts|cts|json)$/.test(entry.name)) {
        inputs[relative(root, path)] = statSync(path).mtimeMs;
      }
    }
  };
  for (const dir of SOURCE_DIRS) walk(join(root, dir));
  for (const file of CONFIG_FILES) {
    const path = join(root, file);
    if (existsSync(path)) inputs[file] = statSync(path).mtimeMs;
  }
  return inputs;
}

/** Why `dist/` must be built again, or undefined when it is current. */
export function staleness(
  stamp: Stamp | undefined,
  inputs: Record<string, number>,
  entryExists: boolean,
): string | undefined {
  if (!entryExists) return 'dist/ has no build';
  if (!stamp) return 'no earlier build recorded';
  const before = Object.keys(stamp.inputs);
  const now = Object.keys(inputs);
  const added = now.find((f) => !(f in stamp.inputs));
  if (added) return `${added} is new`;
  const removed = before.find((f) => !(f in inputs));
  if (removed) return `${removed} went away`;
  // a file written after the last build started, or replaced by an older one (a checkout)
  const changed = now.find((f) => inputs[f]! !== stamp.inputs[f] || inputs[f]! >= stamp.startedAtMs);
  return changed ? `${changed} changed` : undefined;
}

function readStamp(): Stamp | undefined {
  try {
    return JSON.parse(readFileSync(STAMP, 'utf8')) as Stamp;
  } catch {
    return undefined;
  }
}

function main(): void {
  const force = process.argv.includes('--force');
  const started = Date.now();
  const inputs = buildInputs();
  const entryExists = existsSync(ENTRY);
  const why = force ? 'asked to (--force)' : staleness(readStamp(), inputs, entryExists);
  if (why === undefined) {
    console.error(`build: dist/ is current (${Object.keys(inputs).length} inputs unchanged), skipped`);
    return;
  }
  mkdirSync(STATE_DIR, { recursive: true });
  // the build info says what was emitted; with dist/ cleaned it would emit nothing
  if (!entryExists || force) rmSync(BUILD_INFO, { force: true });
  console.error(`build: ${why}: tsc --incremental`);
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(
    process.execPath,
    [tsc, '-p', 'tsconfig.build.json', '--incremental', '--tsBuildInfoFile', BUILD_INFO],
    { cwd: ROOT, stdio: 'inherit' },
  );
  if (result.status !== 0) {
    rmSync(STAMP, { force: true });
    process.exit(result.status ?? 1);
  }
  // the inputs as read before tsc ran: a file saved during the build counts as changed next time
  const stamp: Stamp = { startedAtMs: started, inputs };
  writeFileSync(STAMP, JSON.stringify(stamp));
  console.error(`build: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
