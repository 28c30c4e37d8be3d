/**
 * `npm run package`: the Function App's deployment package, exactly what Flex Consumption runs.
 *
 * Layout of the package (the root of the zip is the app root, as Flex Consumption expects):
 * `host.json`, a trimmed `package.json` (`main`, `type`, dependencies), `dist/src/**` (the app
 * compiled by tsc with tsconfig.build.json's options, only the files the entry point reaches; the
 * compile has its own output folder, so the `dist/` of the repository, which the local host and
 * the tests run, is never rewritten under them), the configuration file azd ships (if any) and
 * `node_modules/` with the production dependencies only, installed from the lockfile with
 * `npm ci --omit=dev --ignore-scripts` (no devDependency, no Node binary, no tests) and pruned of
 * TypeScript files and source maps, which Node never loads.
 *
 * The unpacked package is kept in `.local/package/app/` (the folder azure.yaml's `dist` names, see
 * docs/deploy.md) and zipped to `.local/package/dmf-functions.zip`, whose path is the last line
 * printed. The zip is reproducible: sorted entries, fixed timestamps. test/infra/package.test.ts
 * unpacks it into an empty folder and loads the app from it.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { cp, lstat, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { dirname, isAbsolute, join, normalize, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import yazl from 'yazl';
import { z } from 'zod';

/** Largest zip we accept (issue 15: Flex pulls the package at every cold start). */
export const MAX_PACKAGE_BYTES = 40 * 1024 * 1024;
/** Where `npm run package` works, relative to the repository root (git-ignored). */
export const PACKAGE_DIR = join('.local', 'package');
/** The unpacked package, relative to the repository root: azure.yaml's `dist`. */
export const PACKAGE_APP_DIR = join(PACKAGE_DIR, 'app');
/** The zip, relative to the repository root. */
export const PACKAGE_ZIP = join(PACKAGE_DIR, 'dmf-functions.zip');
/** Where the app is compiled for the package, relative to the repository root (like `dist/`). */
const COMPILED_DIR = join(PACKAGE_DIR, 'compiled');
/** The configuration file shipped by default (infra sets DMF_CONFIG_FILE to it). */
export const DEFAULT_CONFIG_FILE = 'dmf.config.json';
/**
 * Files of node_modules Node never loads at run time: TypeScript (declarations and the sources some
 * packages ship; Node strips no types under node_modules) and source maps.
 */
const PRUNED_FILE = /\.(?:[cm]?ts|[cm]?[jt]s\.map)$/;
/**
 * How the production dependencies are installed: exactly the lockfile's versions, no devDependency,
 * no install script (none of the production dependencies needs one to run), no `.bin` symlinks (a
 * zip deployment carries no links), from the npm cache when it has them.
 */
const NPM_CI_ARGS = [
  'ci',
  '--omit=dev',
  '--ignore-scripts',
  '--no-bin-links',
  '--no-audit',
  '--no-fund',
  '--prefer-offline',
];
/** Timestamp of every zip entry, so the same inputs give the same bytes. */
const ZIP_MTIME = new Date(Date.UTC(2000, 0, 1));

const packageJsonSchema = z
  .object({
    name: z.string(),
    version: z.string(),
    type: z.literal('module'),
    main: z.string().regex(/^dist\/.+\.js$/, 'main must be a compiled file under dist/'),
    engines: z.record(z.string(), z.string()).optional(),
    dependencies: z.record(z.string(), z.string()),
    devDependencies: z.record(z.string(), z.string()).default({}),
  })
  .loose();

/** Options of {@link buildPackage}. */
export interface BuildPackageOptions {
  /** Repository root. */
  root: string;
  /**
   * Configuration file to ship, relative to the root. Default: `DMF_CONFIG_FILE` from the
   * environment (azd passes its environment's values to hooks), else `dmf.config.json` when it
   * exists. A file named explicitly must exist.
   */
  configFile?: string;
  /** Environment to read `DMF_CONFIG_FILE` from. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Reuse the installed dependencies when the lockfile did not change. Default true. */
  reuseDependencies?: boolean;
  /** Progress lines. Default: none. */
  log?: (line: string) => void;
}

/** What {@link buildPackage} made. */
export interface PackageResult {
  /** Absolute path of the zip. */
  zipPath: string;
  /** Absolute path of the unpacked package (azure.yaml `dist`). */
  appDir: string;
  /** Every file of the package, relative, `/`-separated, sorted. */
  files: string[];
  /** Size of the zip. */
  zippedBytes: number;
  /** Sum of the files' sizes. */
  unzippedBytes: number;
  /** Compiled app files (under dist/src/). */
  appFiles: number;
  /** Installed packages (folders with a package.json directly under node_modules or a scope). */
  dependencies: number;
  /** The configuration file shipped, if any (relative path). */
  configFile?: string;
  /** {@link packageFingerprint} of the inputs. */
  fingerprint: string;
}

/** Thrown when the package cannot be made; the message says what to fix. */
export class PackageBuildError extends Error {}

/**
 * Hash of everything the package is made from (sources, manifests, lockfile, host.json, this
 * script, the configuration file), so a test can tell whether `.local/package` is current.
 */
export async function packageFingerprint(root: string, configFile?: string): Promise<string> {
  const hash = createHash('sha256');
  const files = [
    'package.json',
    'package-lock.json',
    'host.json',
    'tsconfig.json',
    'tsconfig.build.json',
    'scripts/package.ts',
    ...(await listFiles(join(root, 'src'))).map((f) => `src/${f}`),
    ...(configFile ? [configFile] : []),
  ];
  for (const f of files.sort()) {
    hash.update(`${f}\0`);
    hash.update(existsSync(join(root, f)) ? await readFile(join(root, f)) : '<missing>');
    hash.update('\0');
  }
  return hash.digest('hex');
}

/** Which configuration file to ship (see {@link BuildPackageOptions.configFile}). */
export function resolveConfigFile(
  root: string,
  explicit: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  const named = explicit ?? (env.DMF_CONFIG_FILE?.trim() || undefined);
  const file = named ?? DEFAULT_CONFIG_FILE;
  const normalized = normalize(file).split(sep).join('/');
  if (isAbsolute(file) || normalized.startsWith('../') || normalized === '..')
    throw new PackageBuildError(
      `DMF_CONFIG_FILE must be a path inside the repository, relative to its root (it is also the path inside the app): "${file}"`,
    );
  if (!existsSync(join(root, normalized))) {
    if (named !== undefined)
      throw new PackageBuildError(
        `DMF_CONFIG_FILE names "${normalized}", which does not exist under ${root}: create it (start from samples/dmf.config.json) or unset DMF_CONFIG_FILE.`,
      );
    return undefined;
  }
  return normalized;
}

/** Compiles `src/` with tsconfig.build.json's options into `outDir`; type errors stop the package. */
export function compileApp(root: string, outDir: string): void {
  const configPath = join(root, 'tsconfig.build.json');
  const parsed = ts.getParsedCommandLineOfConfigFile(
    configPath,
    { outDir, sourceMap: false, declaration: false, noEmit: false, incremental: false },
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new PackageBuildError(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    },
  );
  if (!parsed) throw new PackageBuildError(`cannot read ${configPath}`);
  const srcDir = join(root, 'src') + sep;
  const program = ts.createProgram({
    rootNames: parsed.fileNames.filter((f) => resolve(f).startsWith(srcDir)),
    options: parsed.options,
  });
  const emitted = program.emit();
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics];
  if (diagnostics.length > 0 || emitted.emitSkipped)
    throw new PackageBuildError(
      `The app does not compile:\n${ts.formatDiagnostics(diagnostics, {
        getCanonicalFileName: (f) => f,
        getCurrentDirectory: () => root,
        getNewLine: () => '\n',
      })}`,
    );
}

/** Builds `.local/package/app` and the zip: compiles `src/`, installs, copies, zips. */
export async function buildPackage(options: BuildPackageOptions): Promise<PackageResult> {
  const root = resolve(options.root);
  const log = options.log ?? (() => {});
  const pkg = packageJsonSchema.parse(JSON.parse(await readFile(join(root, 'package.json'), 'utf8')));
  const configFile = resolveConfigFile(root, options.configFile, options.env ?? process.env);
  const fingerprint = await packageFingerprint(root, configFile);
  const appDir = join(root, PACKAGE_APP_DIR);
  const zipPath = join(root, PACKAGE_ZIP);
  const compiledDir = join(root, COMPILED_DIR);

  // 0. The app, compiled on its own (the repository's dist/ may be in use by a running host).
  log('compile: tsc (tsconfig.build.json options) of src/');
  await rm(compiledDir, { recursive: true, force: true });
  compileApp(root, compiledDir);
  // package.json main is dist/…: the same path under the compiled folder.
  const entry = join(compiledDir, pkg.main.replace(/^dist\//, ''));
  if (!existsSync(entry))
    throw new PackageBuildError(
      `${pkg.main} was not produced by the compile (expected ${relative(root, entry)})`,
    );

  // 1. Production dependencies, from the lockfile (reused while package.json and the lock are unchanged).
  const lockHash = createHash('sha256')
    .update(NPM_CI_ARGS.join(' '))
    .update(String(PRUNED_FILE))
    .update(await readFile(join(root, 'package.json')))
    .update(await readFile(join(root, 'package-lock.json')))
    .digest('hex');
  const lockMarker = join(root, PACKAGE_DIR, 'node_modules.sha256');
  const reuse =
    (options.reuseDependencies ?? true) &&
    existsSync(join(appDir, 'node_modules')) &&
    existsSync(lockMarker) &&
    (await readFile(lockMarker, 'utf8')) === lockHash;
  if (reuse) {
    for (const name of await readdir(appDir))
      if (name !== 'node_modules') await rm(join(appDir, name), { recursive: true, force: true });
    log(`dependencies: reusing ${relative(root, join(appDir, 'node_modules'))} (lockfile unchanged)`);
  } else {
    await rm(appDir, { recursive: true, force: true });
    await rm(lockMarker, { force: true });
    await mkdir(appDir, { recursive: true });
    await cp(join(root, 'package.json'), join(appDir, 'package.json'));
    await cp(join(root, 'package-lock.json'), join(appDir, 'package-lock.json'));
    log(`dependencies: npm ${NPM_CI_ARGS.join(' ')}`);
    await runNpm(NPM_CI_ARGS, appDir);
    await rm(join(appDir, 'package-lock.json'), { force: true });
    await rm(join(appDir, 'node_modules', '.package-lock.json'), { force: true });
    await pruneDependencies(join(appDir, 'node_modules'));
    await writeFile(lockMarker, lockHash);
  }

  // 2. The compiled files the entry point reaches, and nothing else, under dist/ as package.json says.
  const reached = await importClosure(compiledDir, entry, pkg);
  for (const file of reached) {
    const target = join(appDir, 'dist', file);
    await mkdir(dirname(target), { recursive: true });
    await cp(join(compiledDir, file), target);
  }

  // 3. host.json, the trimmed package.json, the configuration file.
  await cp(join(root, 'host.json'), join(appDir, 'host.json'));
  const shipped = {
    name: pkg.name,
    version: pkg.version,
    private: true,
    description: 'Deployment package of dmf-functions (npm run package): production dependencies only.',
    type: pkg.type,
    main: pkg.main,
    ...(pkg.engines ? { engines: pkg.engines } : {}),
    dependencies: pkg.dependencies,
  };
  await writeFile(join(appDir, 'package.json'), `${JSON.stringify(shipped, null, 2)}\n`);
  if (configFile) {
    await mkdir(dirname(join(appDir, configFile)), { recursive: true });
    await cp(join(root, configFile), join(appDir, configFile));
    log(`configuration: ${configFile}`);
  } else {
    log(
      `configuration: no ${DEFAULT_CONFIG_FILE} at the repository root; the app then needs DMF_CONFIG (infra parameter dmfConfig)`,
    );
  }

  // 4. The zip.
  const files = (await listFiles(appDir)).sort();
  const unzippedBytes = await zipFolder(appDir, files, zipPath);
  const zippedBytes = (await stat(zipPath)).size;
  const result: PackageResult = {
    zipPath,
    appDir,
    files,
    zippedBytes,
    unzippedBytes,
    appFiles: reached.length,
    dependencies: await countPackages(join(appDir, 'node_modules')),
    ...(configFile ? { configFile } : {}),
    fingerprint,
  };
  await writeFile(
    join(root, PACKAGE_DIR, 'manifest.json'),
    `${JSON.stringify({ ...result, files: files.length }, null, 2)}\n`,
  );
  if (zippedBytes > MAX_PACKAGE_BYTES)
    throw new PackageBuildError(
      `${relative(root, zipPath)} is ${mib(zippedBytes)} MiB, over the ${mib(MAX_PACKAGE_BYTES)} MiB budget: a dependency grew (see bench/README.md)`,
    );
  return result;
}

/** The manifest the last {@link buildPackage} wrote, if any. */
export async function readPackageManifest(
  root: string,
): Promise<(Omit<PackageResult, 'files'> & { files: number }) | undefined> {
  const path = join(root, PACKAGE_DIR, 'manifest.json');
  if (!existsSync(path)) return undefined;
  return JSON.parse(await readFile(path, 'utf8')) as Omit<PackageResult, 'files'> & { files: number };
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listFiles(join(dir, entry.name), rel)));
    else if (entry.isFile()) out.push(rel);
    else if (entry.isSymbolicLink())
      throw new PackageBuildError(
        `${join(dir, entry.name)} is a symbolic link: a zip deployment cannot carry it`,
      );
  }
  return out;
}

async function pruneDependencies(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) await pruneDependencies(full);
    else if (PRUNED_FILE.test(entry.name)) await rm(full);
  }
}

async function countPackages(dir: string): Promise<number> {
  let n = 0;
  const visit = async (d: string): Promise<void> => {
    if (!existsSync(d)) return;
    for (const entry of await readdir(d, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
      const full = join(d, entry.name);
      if (entry.name.startsWith('@')) await visit(full);
      else if (existsSync(join(full, 'package.json'))) {
        n++;
        await visit(join(full, 'node_modules'));
      }
    }
  };
  await visit(dir);
  return n;
}

function runNpm(args: string[], cwd: string): Promise<void> {
  // Under `npm run`, npm_execpath is npm's own CLI: run it with this Node, whatever npm is on PATH.
  const npmCli = process.env.npm_execpath;
  const [command, commandArgs] =
    npmCli && /\.c?js$/.test(npmCli) ? [process.execPath, [npmCli, ...args]] : ['npm', args];
  return new Promise((done, fail) => {
    const child = spawn(command, commandArgs, {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      shell: command === 'npm' && process.platform === 'win32',
      env: { ...process.env, NODE_ENV: 'production' },
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', fail);
    child.on('close', (code) =>
      code === 0
        ? done()
        : fail(
            new PackageBuildError(`npm ${args.join(' ')} failed (exit ${code}) in ${cwd}:\n${output.trim()}`),
          ),
    );
  });
}

const BUILTINS = new Set(builtinModules);

function packageNameOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string);
}

/** Module specifiers of a compiled ES module: static imports/exports, `import('…')`, `require('…')`. */
export function moduleSpecifiers(
  fileName: string,
  text: string,
): { specifiers: string[]; problems: string[] } {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const specifiers: string[] = [];
  const problems: string[] = [];
  const where = (node: ts.Node): string =>
    `${fileName}:${source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1}`;
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      if (ts.isStringLiteral(node.moduleSpecifier)) specifiers.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node)) {
      const dynamicImport = node.expression.kind === ts.SyntaxKind.ImportKeyword;
      const requireCall = ts.isIdentifier(node.expression) && node.expression.text === 'require';
      if (dynamicImport || requireCall) {
        const arg = node.arguments[0];
        if (arg && ts.isStringLiteralLike(arg)) specifiers.push(arg.text);
        else
          problems.push(
            `${where(node)}: ${dynamicImport ? 'import()' : 'require()'} of a computed name: the package cannot tell which file it needs`,
          );
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { specifiers, problems };
}

/**
 * Every compiled file the entry point reaches through relative imports (paths relative to `root`,
 * the compile's output folder), checking that each bare import is a Node built-in or a production
 * dependency.
 */
export async function importClosure(
  root: string,
  entry: string,
  pkg: { dependencies: Record<string, string>; devDependencies?: Record<string, string> },
): Promise<string[]> {
  const seen = new Set<string>();
  const problems: string[] = [];
  const queue = [resolve(entry)];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    const rel = relative(root, file).split(sep).join('/');
    const found = moduleSpecifiers(rel, await readFile(file, 'utf8'));
    problems.push(...found.problems);
    for (const spec of found.specifiers) {
      if (spec.startsWith('.') || spec.startsWith('/')) {
        const target = resolve(dirname(file), spec);
        if (!existsSync(target) || !(await lstat(target)).isFile())
          problems.push(`${rel} imports ${spec}, which was not compiled (${relative(root, target)})`);
        else if (!target.startsWith(resolve(root) + sep))
          problems.push(`${rel} imports ${spec}, outside the compiled app`);
        else queue.push(target);
        continue;
      }
      if (spec.startsWith('node:') || BUILTINS.has(spec)) continue;
      const name = packageNameOf(spec);
      if (!(name in pkg.dependencies))
        problems.push(
          `${rel} imports "${spec}", which is ${name in (pkg.devDependencies ?? {}) ? 'a devDependency' : 'not a dependency'}: it would be missing on Azure`,
        );
    }
  }
  if (problems.length > 0)
    throw new PackageBuildError(`The app cannot be packaged:\n- ${problems.join('\n- ')}`);
  return [...seen].map((f) => relative(root, f).split(sep).join('/')).sort();
}

async function zipFolder(dir: string, files: readonly string[], zipPath: string): Promise<number> {
  await mkdir(dirname(zipPath), { recursive: true });
  const zip = new yazl.ZipFile();
  let total = 0;
  for (const file of files) {
    const info = await stat(join(dir, file));
    total += info.size;
    zip.addFile(join(dir, file), file, {
      mtime: ZIP_MTIME,
      // rw-r--r--, or rwxr-xr-x for files that were executable
      mode: info.mode & 0o111 ? 0o100755 : 0o100644,
      compressionLevel: 9,
    });
  }
  zip.end();
  const tmp = `${zipPath}.${process.pid}.tmp`;
  await pipeline(zip.outputStream, createWriteStream(tmp));
  await rename(tmp, zipPath);
  return total;
}

async function main(): Promise<void> {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const started = Date.now();
  try {
    const result = await buildPackage({ root, log: (line) => console.log(line) });
    console.log(
      `package: ${result.files.length} files (${result.appFiles} compiled app files, ${result.dependencies} packages), ` +
        `${mib(result.unzippedBytes)} MiB unzipped, ${mib(result.zippedBytes)} MiB zipped ` +
        `(budget ${mib(MAX_PACKAGE_BYTES)} MiB), ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    console.log(`azd deploys ${relative(root, result.appDir)} (azure.yaml dist); the same files zipped:`);
    console.log(result.zipPath);
  } catch (error) {
    console.error(error instanceof PackageBuildError ? error.message : error);
    process.exitCode = 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) await main();
