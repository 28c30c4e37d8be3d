import { readdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { installCoreApi, withActiveRegistry } from './core-api.js';
import type { AppRegistry } from './core-api.js';

const packageJsonSchema = z.object({ main: z.string().min(1).optional() }).loose();

let loadCounter = 0;
const loadedEntries = new Set<string>();

function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*' && pattern[i + 1] === '*') {
      re += '.*';
      i++;
      if (pattern[i + 1] === '/') i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '{') re += '(?:';
    else if (c === '}') re += ')';
    else if (c === ',' && re.includes('(?:')) re += '|';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') out.push(...(await walk(full)));
    } else out.push(full);
  }
  return out;
}

/**
 * The files the worker would load for `main` (a file or a glob such as `dist/src/functions/*.js`;
 * `*`, `**`, `?` and `{a,b}` are supported),
 * relative to `appRoot`, sorted for a stable load order.
 */
export async function resolveMainFiles(appRoot: string, main: string): Promise<string[]> {
  const normalized = main.replace(/\\/g, '/').replace(/^\.\//, '');
  if (!/[*?{]/.test(normalized)) {
    const file = isAbsolute(normalized) ? normalized : resolve(appRoot, normalized);
    await stat(file);
    return [file];
  }
  const staticPart = normalized.slice(0, normalized.search(/[*?{]/)).replace(/[^/]*$/, '');
  const base = resolve(appRoot, staticPart);
  const matcher = globToRegExp(normalized);
  const files = (await walk(base).catch(() => [] as string[]))
    .filter((f) => matcher.test(relative(appRoot, f).split(sep).join('/')))
    .sort();
  if (files.length === 0)
    throw new Error(`devhost: "main" pattern ${main} matched no files under ${appRoot}.`);
  return files;
}

/** Reads package.json `main` of the app (the worker's entry point). */
export async function readAppMain(appRoot: string): Promise<string> {
  const parsed = packageJsonSchema.parse(JSON.parse(await readFile(join(appRoot, 'package.json'), 'utf8')));
  if (!parsed.main) throw new Error(`devhost: ${join(appRoot, 'package.json')} has no "main".`);
  return parsed.main;
}

/**
 * Loads the app's entry files with `@azure/functions-core` answered by this host, so every
 * `app.*`/`df.app.*` registration lands in `registry`.
 */
export async function loadApp(
  registry: AppRegistry,
  options: { appRoot: string; main?: string },
): Promise<string[]> {
  installCoreApi();
  const main = options.main ?? (await readAppMain(options.appRoot));
  const files = await resolveMainFiles(options.appRoot, main);
  const load = ++loadCounter;
  await withActiveRegistry(registry, async () => {
    for (const file of files) {
      const url = pathToFileURL(file).href;
      // First load: a plain import, like the worker (entry files importing each other load once).
      // A repeated load in the same process (tests) needs a fresh module instance to register again.
      await import(loadedEntries.has(url) ? `${url}?devhost=${load}` : url);
      loadedEntries.add(url);
    }
  });
  if (registry.functions.size === 0) {
    throw new Error(
      `devhost: the app in ${options.appRoot} registered no functions (files: ${files.join(', ')}). ` +
        'If this process imported the app modules before the host started, they are cached (and ' +
        '@azure/functions may be in "test mode"): start the host before importing app code, or in its own process.',
    );
  }
  return files;
}
