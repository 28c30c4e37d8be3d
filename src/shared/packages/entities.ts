/**
 * Which raw file fills which entity of a multi-entity template: the data project's `entities`
 * name a file-name pattern per entity (`*header*.csv`); a batch's files are matched against them.
 * Pure: the orchestrations and activities decide what a problem means (wait, or fail).
 */

/** One entity as the configuration names it (see `EntityFilesConfigSchema`). */
export interface EntityFiles {
  /** The DMF entity label, as the template's manifest names it. */
  entity: string;
  /** File-name pattern: `*` any characters, `?` one; case-insensitive. */
  files: string;
  /** A batch may come without a file for it. */
  optional?: boolean;
}

/** A pattern as a regular expression matching a whole file name, case-insensitively. */
export function filePatternRegExp(pattern: string): RegExp {
  const body = Array.from(pattern)
    .map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`, 'iu');
}

/** True when `fileName` matches `pattern` (see {@link filePatternRegExp}). */
export function matchesFilePattern(pattern: string, fileName: string): boolean {
  return filePatternRegExp(pattern).test(fileName);
}

/** A file of a batch that found its entity. */
export interface MatchedFile<F> {
  entity: string;
  file: F;
}

/** How a batch's files meet a project's entities. */
export interface EntityMatch<F> {
  /** Each entity that has exactly one file, in the configuration's order. */
  matched: MatchedFile<F>[];
  /** Required entities without a file. */
  missing: string[];
  /** Optional entities without a file (the template's own data file stays). */
  absentOptional: string[];
  /** Files that match no entity's pattern. */
  unmatched: F[];
  /** Files that match the patterns of several entities. */
  ambiguous: { file: F; entities: string[] }[];
  /** Entities that several files match. */
  crowded: { entity: string; files: F[] }[];
}

/**
 * Matches files (by the name `nameOf` gives) to entities. A file matching several entities, an
 * entity matched by several files and a file matching none are problems the result lists; each
 * entity is `matched` only when exactly one file (matching only it) is its.
 */
export function matchEntityFiles<F>(
  entities: readonly EntityFiles[],
  files: readonly F[],
  nameOf: (file: F) => string,
): EntityMatch<F> {
  const byEntity = new Map<string, F[]>(entities.map((e) => [e.entity, []]));
  const result: EntityMatch<F> = {
    matched: [],
    missing: [],
    absentOptional: [],
    unmatched: [],
    ambiguous: [],
    crowded: [],
  };
  const patterns = entities.map((e) => ({ entity: e.entity, re: filePatternRegExp(e.files) }));
  for (const file of files) {
    const name = nameOf(file);
    const hits = patterns.filter((p) => p.re.test(name)).map((p) => p.entity);
    if (hits.length === 0) result.unmatched.push(file);
    else if (hits.length > 1) result.ambiguous.push({ file, entities: hits });
    else byEntity.get(hits[0]!)!.push(file);
  }
  for (const e of entities) {
    const mine = byEntity.get(e.entity) ?? [];
    if (mine.length === 1) result.matched.push({ entity: e.entity, file: mine[0]! });
    else if (mine.length > 1) result.crowded.push({ entity: e.entity, files: mine });
    else if (e.optional) result.absentOptional.push(e.entity);
    else result.missing.push(e.entity);
  }
  return result;
}

/** The problems of a match as sentences (empty when every file found exactly its entity). */
export function entityMatchProblems<F>(match: EntityMatch<F>, nameOf: (file: F) => string): string[] {
  return [
    ...match.unmatched.map((f) => `file "${nameOf(f)}" matches no entity's file pattern`),
    ...match.ambiguous.map(
      (a) => `file "${nameOf(a.file)}" matches the patterns of several entities (${a.entities.join(', ')})`,
    ),
    ...match.crowded.map(
      (c) => `entity "${c.entity}" is matched by several files (${c.files.map(nameOf).join(', ')})`,
    ),
  ];
}
