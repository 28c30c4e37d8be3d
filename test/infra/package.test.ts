/**
 * The deployment package (`npm run package`) is what we test: unpacked into an empty folder, it
 * loads in a plain Node process with only what it holds (the real `@azure/functions` and
 * `durable-functions` from its own node_modules; `@azure/functions-core` answered by the local
 * host's stub, as the worker answers it) and registers exactly the functions the app registers
 * under the local host. It holds production dependencies only, within the size budget, and the
 * folder azd zips (azure.yaml `dist`) holds the same files.
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess } from '../support/process.js';
import { openPackage } from '../../src/shared/packages/index.js';
import {
  MAX_PACKAGE_BYTES,
  PACKAGE_APP_DIR,
  PACKAGE_ZIP,
  PackageBuildError,
  importClosure,
  moduleSpecifiers,
  packageFingerprint,
  readPackageManifest,
  resolveConfigFile,
} from '../../scripts/package.js';
import { hostJsonTextFor, resolveDurableBackend } from '../../scripts/durable-backend.js';
import { loadAppFunctions } from './app-functions.js';
import type { RegisteredFunctionInfo } from './checks.js';

const require = createRequire(import.meta.url);

const root = join(import.meta.dirname, '..', '..');
const zipPath = join(root, PACKAGE_ZIP);

interface Loaded {
  functions: RegisteredFunctionInfo[];
  hooks: string[];
  cjsFiles: string[];
}

let unpacked = '';
let entries: string[] = [];

/**
 * Runs `npm run package`'s script unless `.local/package` was made from the current inputs. It
 * compiles into its own folder, so the dist/ other test files run is never rewritten under them.
 */
async function ensurePackage(): Promise<void> {
  const manifest = await readPackageManifest(root);
  const fingerprint = await packageFingerprint(
    root,
    resolveConfigFile(root, undefined, process.env),
    resolveDurableBackend(process.env),
  );
  if (manifest?.fingerprint === fingerprint && existsSync(zipPath)) return;
  const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');
  const run = spawnSync(process.execPath, [tsx, join('scripts', 'package.ts')], {
    cwd: root,
    encoding: 'utf8',
  });
  expect(run.status, `npm run package failed:\n${run.stdout}\n${run.stderr}`).toBe(0);
  // The command's last line is the zip's path.
  expect(run.stdout.trim().split('\n').at(-1)).toBe(zipPath);
}

async function unzipTo(zip: string, dir: string): Promise<string[]> {
  // From memory (about 10 MB): much faster than ranged reads of the file for thousands of entries.
  const reader = await openPackage(await readFile(zip), {
    limits: { maxEntries: 100_000, maxCompressionRatio: 1_000 },
  });
  const names: string[] = [];
  try {
    for (const entry of reader.entries) {
      if (entry.isDirectory) continue;
      // our own zip, but still: no absolute paths, no way out of the folder
      expect(entry.name).not.toMatch(/^\/|\\|(^|\/)\.\.(\/|$)/);
      names.push(entry.name);
      const target = join(dir, entry.name);
      await mkdir(dirname(target), { recursive: true });
      await pipeline(await reader.openEntryStream(entry.name), createWriteStream(target));
    }
  } finally {
    await reader.close();
  }
  return names.sort();
}

async function loadInPlainNode(appRoot: string): Promise<Loaded> {
  // An empty environment but PATH: nothing from this repository leaks in (NODE_PATH, NODE_OPTIONS).
  const run = await runProcess(
    process.execPath,
    [join(import.meta.dirname, 'load-package.mjs'), root, appRoot],
    {
      cwd: appRoot,
      env: { PATH: process.env.PATH ?? '' },
    },
  );
  if (run.code !== 0) throw new Error(`loading the package failed (exit ${run.code}):\n${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as Loaded;
}

beforeAll(async () => {
  // The worker stand-in is the local host's, compiled by npm run build (npm test builds first).
  expect(
    existsSync(join(dirname(require.resolve('@dmf-functions/devhost/package.json')), 'dist', 'load-app.js')),
    'the worker stub @dmf-functions/devhost/worker-stub is not built: run npm run build',
  ).toBe(true);
  await ensurePackage();
  unpacked = await mkdtemp(join(tmpdir(), 'dmf-package-'));
  entries = await unzipTo(zipPath, unpacked);
}, 180_000);

afterAll(async () => {
  if (unpacked) await rm(unpacked, { recursive: true, force: true });
});

interface LockEntry {
  dev?: boolean;
  optional?: boolean;
  version?: string;
  link?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

/**
 * The lockfile entries the root package's production dependencies reach, resolved the way Node
 * does (the nearest `node_modules/{name}` up from the dependent). Workspaces' dependencies are not
 * reached unless the app's own dependencies reach them.
 */
function productionClosure(packages: Record<string, LockEntry>): string[] {
  const seen = new Set<string>();
  const resolve = (from: string, name: string): string | undefined => {
    let dir = from;
    for (;;) {
      const candidate = `${dir === '' ? '' : `${dir}/`}node_modules/${name}`;
      if (candidate in packages) return candidate;
      if (dir === '') return undefined;
      const at = dir.lastIndexOf('/node_modules/');
      dir = at < 0 ? '' : dir.slice(0, at);
    }
  };
  const visit = (path: string): void => {
    const entry = packages[path];
    if (!entry) return;
    const names = {
      ...entry.dependencies,
      ...entry.optionalDependencies,
      ...entry.peerDependencies,
    };
    for (const name of Object.keys(names)) {
      const target = resolve(path, name);
      if (target && !seen.has(target)) {
        seen.add(target);
        visit(target);
      }
    }
  };
  visit('');
  return [...seen];
}

describe('the deployment package', () => {
  it('is within the size budget and has the layout Flex Consumption expects', async () => {
    const manifest = await readPackageManifest(root);
    expect(manifest?.zippedBytes).toBeLessThanOrEqual(MAX_PACKAGE_BYTES);
    const pkg = JSON.parse(await readFile(join(unpacked, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(entries).toEqual(expect.arrayContaining(['host.json', 'package.json', pkg.main]));
    expect(pkg).toMatchObject({ type: 'module', main: 'dist/src/index.js' });
    expect(pkg).not.toHaveProperty('devDependencies');
    expect(pkg).not.toHaveProperty('scripts');
    // The repository's host.json, or its scheduler variant when DMF_DURABLE_BACKEND says so.
    expect(manifest?.durableBackend).toBe(resolveDurableBackend(process.env));
    expect(await readFile(join(unpacked, 'host.json'), 'utf8')).toBe(
      hostJsonTextFor(resolveDurableBackend(process.env), await readFile(join(root, 'host.json'), 'utf8')),
    );
    // Nothing but the app, its manifests, its configuration and its dependencies.
    const configFile = resolveConfigFile(root, undefined, process.env);
    const outside = entries.filter(
      (e) =>
        !e.startsWith('node_modules/') &&
        !e.startsWith('dist/src/') &&
        !['host.json', 'package.json', configFile].includes(e),
    );
    expect(outside).toEqual([]);
    const compiled = entries.filter((e) => e.startsWith('dist/'));
    expect(compiled.every((e) => e.endsWith('.js'))).toBe(true);
    // The CLI, the local host and the emulator are not part of the app.
    expect(compiled.filter((e) => /^dist\/(src\/cli|devhost|emulator|bin)\//.test(e))).toEqual([]);
    expect(entries.filter((e) => /\.(?:[cm]?ts|map)$/.test(e))).toEqual([]);
  });

  it('holds exactly the production dependencies of the lockfile: no devDependency, no Node binary', async () => {
    const lock = JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, LockEntry>;
    };
    const production = productionClosure(lock.packages);
    const installed = [
      ...new Set(
        entries
          .filter((e) => e.endsWith('/package.json'))
          .map((e) => e.slice(0, -'/package.json'.length))
          .filter((dir) => dir in lock.packages),
      ),
    ];
    expect(installed.filter((p) => !production.includes(p))).toEqual([]);
    expect(production.filter((p) => !lock.packages[p]?.optional && !installed.includes(p))).toEqual([]);
    // dev-only packages, and the workspaces' own (the emulator's azurite tree is not "dev" in the
    // lockfile once it belongs to a workspace, but the app never reaches it)
    const devOnly = Object.keys(lock.packages)
      .filter((path) => path.startsWith('node_modules/') && !production.includes(path))
      .map((path) => `${path}/`);
    expect(entries.filter((e) => devOnly.some((d) => e.startsWith(d)))).toEqual([]);
    for (const name of ['node', 'typescript', 'vitest', 'azurite', 'playwright-core', 'tsx', 'eslint'])
      expect(
        entries.some((e) => e.startsWith(`node_modules/${name}/`)),
        name,
      ).toBe(false);
    expect(entries.filter((e) => /(^|\/)(node|node\.exe)$/.test(e))).toEqual([]);
    expect(entries.filter((e) => e.startsWith('node_modules/.bin/'))).toEqual([]);
  });

  it('is the folder azd deploys (azure.yaml dist), file for file', async () => {
    const appDir = join(root, PACKAGE_APP_DIR);
    const walk = async (dir: string): Promise<string[]> =>
      (
        await Promise.all(
          (await readdir(dir, { withFileTypes: true })).map((d) =>
            d.isDirectory()
              ? walk(join(dir, d.name))
              : Promise.resolve([relative(appDir, join(dir, d.name)).split(sep).join('/')]),
          ),
        )
      ).flat();
    expect((await walk(appDir)).sort()).toEqual(entries);
    // azd reads an ignore file from that folder and drops local.settings.json: neither may be there.
    expect(entries).not.toContain('.funcignore');
    expect(entries).not.toContain('local.settings.json');
  });

  it('loads from an empty folder with only what it holds and registers every function of the app', async () => {
    const loaded = await loadInPlainNode(unpacked);
    // Every CommonJS dependency (@azure/functions, durable-functions, the Azure SDKs) came from the package.
    const fromElsewhere = loaded.cjsFiles.filter(
      (f) => f.includes(`${sep}node_modules${sep}`) && !f.startsWith(unpacked),
    );
    expect(fromElsewhere).toEqual([]);
    expect(
      loaded.cjsFiles.some((f) => f.startsWith(join(unpacked, 'node_modules', 'durable-functions'))),
    ).toBe(true);
    expect(loaded.hooks).toContain('appTerminate');
    // The same functions, with the same binding metadata, as the sources register under the local host.
    const expected = await loadAppFunctions({ appRoot: root });
    const byName = (fs: RegisteredFunctionInfo[]): RegisteredFunctionInfo[] =>
      [...fs].sort((a, b) => a.name.localeCompare(b.name));
    expect(loaded.functions.length).toBeGreaterThan(20);
    expect(byName(loaded.functions)).toEqual(byName(expected));
  });
});

describe('the import scan of the package script', () => {
  it('refuses an app file that imports a devDependency or a file that was not compiled', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dmf-closure-'));
    try {
      await mkdir(join(dir, 'dist', 'src'), { recursive: true });
      await writeFile(
        join(dir, 'dist', 'src', 'index.js'),
        "import './ok.js';\nimport { describe } from 'vitest';\nimport './missing.js';\n",
      );
      await writeFile(join(dir, 'dist', 'src', 'ok.js'), "import { z } from 'zod';\nimport 'node:fs';\n");
      const pkg = { dependencies: { zod: '4' }, devDependencies: { vitest: '5' } };
      const attempt = importClosure(dir, join(dir, 'dist', 'src', 'index.js'), pkg);
      await expect(attempt).rejects.toThrow(PackageBuildError);
      await expect(attempt).rejects.toThrow(/"vitest", which is a devDependency/);
      await expect(attempt).rejects.toThrow(/imports \.\/missing\.js, which was not compiled/);
      await writeFile(join(dir, 'dist', 'src', 'index.js'), "import './ok.js';\n");
      expect(await importClosure(dir, join(dir, 'dist', 'src', 'index.js'), pkg)).toEqual([
        'dist/src/index.js',
        'dist/src/ok.js',
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('finds static, re-exported and literal dynamic imports, and refuses computed ones', () => {
    const found = moduleSpecifiers(
      'x.js',
      [
        "import a from './a.js';",
        "import {\n  b,\n  c,\n} from '@azure/functions';",
        "export * from './d.js';",
        "import './e.js';",
        "// import './in-a-comment.js';",
        "const f = await import('./f.js');",
        'const g = await import(name);',
      ].join('\n'),
    );
    expect(found.specifiers).toEqual(['./a.js', '@azure/functions', './d.js', './e.js', './f.js']);
    expect(found.problems).toEqual([expect.stringContaining('x.js:10: import() of a computed name')]);
  });
});

describe('azure.yaml deploys that package', () => {
  it('names the package folder as dist, turns remote build off and builds the package before azd zips it', async () => {
    const yaml = await readFile(join(root, 'azure.yaml'), 'utf8');
    const service = /^services:\n(?:\s*#.*\n)*\s+dmf:\n((?:\s{4,}.*\n|\s*#.*\n)+)/m.exec(yaml)?.[1] ?? '';
    expect(service).toMatch(/^\s+host: function$/m);
    expect(/^\s+dist: (.+)$/m.exec(service)?.[1]).toBe(PACKAGE_APP_DIR.split(sep).join('/'));
    expect(service).toMatch(/^\s+remoteBuild: false$/m);
    const prepackage = /^\s+prepackage:\n((?:\s{8,}.*\n)+)/m.exec(service)?.[1] ?? '';
    expect(prepackage.match(/run: npm run package$/gm)).toHaveLength(2); // posix and windows
    expect(prepackage).not.toMatch(/continueOnError: true/);
    expect(yaml).toMatch(/^requiredVersions:\n\s+azd: '>= 1\.23\.\d+'$/m);
    // azd refuses `remoteBuild: false` when the project's .funcignore excludes node_modules.
    const funcignore = (await readFile(join(root, '.funcignore'), 'utf8'))
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    expect(funcignore.filter((l) => /node_modules/.test(l))).toEqual([]);
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.package).toBe('tsx scripts/package.ts');
  });
});
