/**
 * Data projects (definition groups) as an environment knows them: the config's, then as
 * ImportFromPackage creates or replaces them from a package's manifest (with the refusals F&O
 * answers before an import starts), and the lookups of configured entities by label or public name.
 */
import type { DataProjectConfig, EntityConfig } from './config.js';
import { iso } from './clock.js';
import type { EngineContext } from './engine.js';
import type { ParsedImport } from './executions.js';
import { FoError } from './http.js';

/** An entity of a data project's definition and the source fields its mapping maps. */
export interface ProjectEntityDefinition {
  /** DMF entity label. */
  label: string;
  /**
   * Source fields the project's mapping maps (from a package manifest's EntityMapList), or `null`
   * for a project from the emulator config (F&O generates the mapping from matching names).
   */
  mappedFields: string[] | null;
}

/**
 * A data project (definition group) as the environment knows it now: from the config, or created or
 * replaced by ImportFromPackage from a package's manifest.
 */
export interface DataProjectDefinition {
  name: string;
  direction: 'import' | 'export';
  legalEntity: string;
  executionDurationMs?: DataProjectConfig['executionDurationMs'];
  entities: ProjectEntityDefinition[];
  /** `config`, or `package` once ImportFromPackage created or replaced it. */
  origin: 'config' | 'package';
  /** Incremented whenever ImportFromPackage replaces the definition (starts at 1). */
  revision: number;
  /** The execution whose ImportFromPackage created or last replaced the definition. */
  definedBy?: string;
  /** Emulator time (ISO) of that. */
  definedAt?: string;
}

/** How F&O's OData service words an exception of the ImportFromPackage action (RIS issues #54, #75). */
const IMPORT_ACTION_PREFIX =
  'Exception occurred while executing action ImportFromPackage on Entity DataManagementDefinitionGroup: ';

/** The data project definitions of the emulator (all environments share them). */
export class DataProjects {
  /** Definitions by lower-case name: the config's, then as ImportFromPackage creates or replaces them. */
  private readonly byName = new Map<string, DataProjectDefinition>();

  constructor(private readonly ctx: EngineContext) {
    this.reset();
  }

  /** Back to the config's definitions. */
  reset(): void {
    this.byName.clear();
    for (const p of this.ctx.config.dataProjects) {
      this.byName.set(p.name.toLowerCase(), {
        name: p.name,
        direction: p.direction,
        legalEntity: p.legalEntity,
        ...(p.executionDurationMs !== undefined ? { executionDurationMs: p.executionDurationMs } : {}),
        entities: p.entities.map((e) => ({ label: e.label, mappedFields: null })),
        origin: 'config',
        revision: 1,
      });
    }
  }

  /** The data project with that name (case-insensitive), as the environment knows it now. */
  get(name: string): DataProjectDefinition | undefined {
    return this.byName.get(name.toLowerCase());
  }

  /** Every data project definition (control API). */
  views(): DataProjectDefinition[] {
    return structuredClone([...this.byName.values()]);
  }

  /**
   * What ImportFromPackage does to the data project before it starts the import (RIS issues #47,
   * #54, #75, #93): an unknown project is created from the package's manifest; an existing one is
   * refused unless `overwrite` is set, and then its definition (entities, mapping) is replaced by
   * the package's. Call {@link refuseImportInto} first (before the package is read).
   */
  defineImportProject(name: string, parsed: ParsedImport, executionId: string): DataProjectDefinition {
    const existing = this.get(name);
    if (!parsed.ok) {
      if (existing) return existing; // the execution fails on its unreadable package; the definition stays
      throw new FoError(
        400,
        `${IMPORT_ACTION_PREFIX}The data project '${name}' does not exist and could not be created from the package: ${parsed.message}`,
      );
    }
    const entities = parsed.tables.map((t) => ({
      label: this.entity(t.entity)?.label ?? t.entity,
      mappedFields: t.hasMap ? [...(t.mappedFields ?? [])] : [],
    }));
    const definition: DataProjectDefinition = {
      name: existing?.name ?? name,
      direction: 'import',
      legalEntity: existing?.legalEntity ?? 'USMF',
      ...(existing?.executionDurationMs !== undefined
        ? { executionDurationMs: existing.executionDurationMs }
        : {}),
      entities,
      origin: 'package',
      revision: (existing?.revision ?? 0) + 1,
      definedBy: executionId,
      definedAt: iso(this.ctx.clock.now()),
    };
    this.byName.set(name.toLowerCase(), definition);
    this.ctx.log(
      `data project ${definition.name} ${existing ? 'replaced' : 'created'} from the package of ${executionId}`,
    );
    return definition;
  }

  /**
   * ImportFromPackage's refusals that need no package: an export project, or an existing project
   * without `overwrite` ("The data project '{name}' exists and overwrite has not been specified.",
   * quoted from F&O's event log in RIS issues #54 and #75).
   */
  refuseImportInto(name: string, overwrite: boolean): void {
    const project = this.get(name);
    if (!project) return;
    if (project.direction !== 'import')
      throw new FoError(
        400,
        `Data project '${project.name}' is an export project; it cannot be used to import.`,
      );
    if (!overwrite)
      throw new FoError(
        400,
        `${IMPORT_ACTION_PREFIX}The data project '${project.name}' exists and overwrite has not been specified.`,
      );
  }

  /** The data project a start names, refused as F&O does when it is unknown or of the other direction. */
  forStart(definitionGroupId: string, direction: 'import' | 'export'): DataProjectDefinition {
    const project = this.get(definitionGroupId);
    if (!project) throw new FoError(400, `Data project '${definitionGroupId}' was not found.`);
    if (project.direction !== direction) {
      const other = direction === 'import' ? 'export' : 'import';
      throw new FoError(
        400,
        `Data project '${project.name}' is an ${other} project; it cannot be used to ${direction}.`,
      );
    }
    return project;
  }

  /** The configured entity with that label, from any data project. */
  entity(label: string): EntityConfig | undefined {
    const lower = label.toLowerCase();
    for (const p of this.ctx.config.dataProjects) {
      const e = p.entities.find((x) => x.label.toLowerCase() === lower);
      if (e) return e;
    }
    return undefined;
  }

  /** The configured entity whose public (OData) `name` is `name`, when that differs from its label. */
  entityByPublicName(name: string): EntityConfig | undefined {
    const lower = name.toLowerCase();
    for (const p of this.ctx.config.dataProjects) {
      const e = p.entities.find((x) => x.name?.toLowerCase() === lower && x.label.toLowerCase() !== lower);
      if (e) return e;
    }
    return undefined;
  }

  /** Every definition, for the state file. */
  list(): DataProjectDefinition[] {
    return [...this.byName.values()];
  }

  /** Puts saved definitions back (at start). */
  restore(definitions: readonly DataProjectDefinition[]): void {
    for (const p of definitions) this.byName.set(p.name.toLowerCase(), p);
  }
}
