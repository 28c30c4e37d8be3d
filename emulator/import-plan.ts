/**
 * How an import is planned when it starts: a package read into tables in F&O's processing
 * order, each row validated (key fields mapped and filled, no duplicate keys, no bad
 * values) into staging errors or rows for the target, the outcome decided (or forced by a fault),
 * and the data project mapping the import relies on, whose loss fails it at its end when
 * ImportFromPackage with overwrite replaced the project meanwhile. Plain functions over an
 * {@link Execution}; executions.ts runs them.
 */
import type { EmulatorSwitches } from './options.js';
import type { EntityResult, Execution, ExecutionOutcome, ParsedImport, ReliedMapping } from './executions.js';
import { FoError } from './http.js';
import { PackageProblem, readPackage } from './package.js';
import type { DataProjectDefinition, DataProjects } from './projects.js';
import type { RowStore } from './rows.js';

type Outcome = ExecutionOutcome;

/** What planning reads: the configured entities, the switches in force and the stored rows (references). */
export interface PlanContext {
  projects: DataProjects;
  switches: EmulatorSwitches;
  rows: RowStore;
}

/** Reads a package body for import; request-stage problems throw FoError 400. */
export async function parseImportPackage(bytes: Buffer): Promise<ParsedImport> {
  try {
    const pkg = await readPackage(bytes);
    return {
      ok: true,
      // Execution unit → level → sequence: the order F&O processes a package's entities in.
      tables: [...pkg.entities]
        .sort((a, b) => a.executionUnit - b.executionUnit || a.level - b.level || a.sequence - b.sequence)
        .map((e) => ({
          entity: e.entityName,
          table: e.table,
          hasMap: e.hasEntityMapList,
          mappedFields: e.mappedFields,
          executionUnit: e.executionUnit,
          level: e.level,
          sequence: e.sequence,
        })),
    };
  } catch (error) {
    if (error instanceof PackageProblem && error.stage === 'request') throw new FoError(400, error.message);
    if (error instanceof PackageProblem) return { ok: false, message: error.message };
    throw error;
  }
}

/** Plans an import execution from parsed tables: validates rows, decides the outcome. */
export function planImport(
  execution: Execution,
  parsed: ParsedImport,
  forced: Outcome | undefined,
  context: PlanContext,
): void {
  if (!parsed.ok) {
    execution.outcome = 'Failed';
    execution.failureMessage = parsed.message;
    execution.errors.push({ RecordId: '0', Field: '', ErrorMessage: parsed.message });
    return;
  }
  let recordSeq = 5637144576; // F&O-like RecId range for staging records
  execution.entityOrder = [];
  for (const { entity, table, hasMap, executionUnit, level, sequence } of parsed.tables) {
    // Tables come in processing order (parseImportPackage); record each as its turn comes.
    execution.entityOrder.push({
      entityName: context.projects.entity(entity)?.label ?? entity,
      executionUnit: executionUnit ?? 1,
      levelInExecutionUnit: level ?? 1,
      sequenceInLevel: sequence ?? 1,
    });
    const config = context.projects.entity(entity);
    const byPublicName = config ? undefined : context.projects.entityByPublicName(entity);
    if (!config && (byPublicName || context.switches.unknownEntities === 'reject')) {
      // DMF names entities by label; an OData/public name is a classic client bug.
      const message = byPublicName
        ? `Entity '${entity}' is not found in the data entity list. DMF uses entity labels: did you mean '${byPublicName.label}'?`
        : `Entity '${entity}' is not found in the data entity list.`;
      execution.outcome = 'Failed';
      execution.failureMessage = message;
      execution.errors.push({ RecordId: '0', Field: '', ErrorMessage: message });
      return;
    }
    const label = config?.label ?? entity;
    const keyFields = config?.keyFields ?? (table.columns[0] !== undefined ? [table.columns[0]] : []);
    const upper = table.columns.map((c) => c.toUpperCase());
    const keyIdx = keyFields.map((k) => upper.indexOf(k.toUpperCase()));
    const result: EntityResult = {
      entityName: label,
      company: execution.legalEntityId,
      stagingRecords: 0,
      stagingErrorCount: 0,
      targetRecords: 0,
      targetErrorCount: 0,
      errorRows: [],
      columns: table.columns,
      keyFields,
    };
    execution.entities.push(result);
    if (!hasMap) continue; // F&O imports 0 rows "successfully" when the manifest has no EntityMapList.
    const missing = keyFields.filter((_, i) => keyIdx[i] === -1);
    if (missing.length > 0) {
      const message = `Field '${missing.join(', ')}' is not mapped: the key field must be present in the source file for entity '${label}'.`;
      execution.outcome = 'Failed';
      execution.failureMessage = message;
      execution.errors.push({ RecordId: '0', Field: missing[0] ?? '', ErrorMessage: message });
      return;
    }
    const references = (config?.references ?? []).map((r) =>
      referenceCheck(execution, r, table.columns, context),
    );
    const seen = new Set<string>();
    const good: string[][] = [];
    const goodIds: string[] = [];
    for (const row of table.rows) {
      const recordId = String(++recordSeq);
      const key = keyIdx.map((i) => (row[i] ?? '').trim());
      const messages: { field: string; message: string }[] = [];
      key.forEach((v, i) => {
        if (v === '')
          messages.push({
            field: keyFields[i] ?? '',
            message: `Field '${keyFields[i]}' must be filled in.`,
          });
      });
      const keyText = key.join('|').toUpperCase();
      if (messages.length === 0 && seen.has(keyText)) {
        messages.push({
          field: keyFields[0] ?? '',
          message: `Duplicate record: ${keyFields.map((k, i) => `${k} '${key[i]}'`).join(', ')} appears more than once in the file.`,
        });
      }
      row.forEach((v, i) => {
        if (v.includes(context.switches.badValueMarker)) {
          messages.push({
            field: table.columns[i] ?? '',
            message: `The value '${v}' in field '${table.columns[i]}' is not valid.`,
          });
        }
      });
      if (messages.length === 0) {
        for (const check of references) {
          const problem = check(row);
          if (problem) messages.push(problem);
        }
      }
      result.stagingRecords++;
      if (messages.length > 0) {
        result.stagingErrorCount++;
        result.errorRows.push({ recordId, values: row, key, messages: messages.map((m) => m.message) });
        for (const m of messages)
          execution.errors.push({ RecordId: recordId, Field: m.field, ErrorMessage: m.message });
      } else {
        seen.add(keyText);
        good.push(row);
        goodIds.push(recordId);
      }
    }
    result.targetRecords = good.length;
    execution.planned.push({
      entity: label,
      legalEntity: execution.legalEntityId,
      columns: table.columns,
      keyIdx,
      rows: good,
      recordIds: goodIds,
    });
  }
  if (execution.errors.length > 0) execution.outcome = 'PartiallySucceeded';
  if (forced) force(execution, forced);
}

/**
 * A row check for one foreign key of an entity (config `references`): the referred key must be in
 * the referred entity's rows this execution processed before (good rows, same legal entity) or
 * already stored for the environment and legal entity. F&O imports an entity that needs data "that
 * hasn't been imported by another entity" with errors "because of missing dependent data"
 * (configuration-data-templates.md); "Sales order lines V2 ... requires that sales order headers are
 * created beforehand". Rows whose reference fields are absent from the file or empty are not checked.
 */
function referenceCheck(
  execution: Execution,
  reference: { entity: string; fields: string[] },
  columns: readonly string[],
  context: PlanContext,
): (row: readonly string[]) => { field: string; message: string } | undefined {
  const upper = columns.map((c) => c.toUpperCase());
  const idx = reference.fields.map((f) => upper.indexOf(f.toUpperCase()));
  if (idx.some((i) => i === -1)) return () => undefined;
  const label = context.projects.entity(reference.entity)?.label ?? reference.entity;
  const keyOf = (values: readonly string[]): string => values.map((v) => v.trim().toUpperCase()).join('|');
  // Earlier entities of this execution are fully planned by now: their good rows are its target.
  const planned = new Set<string>();
  for (const p of execution.planned) {
    if (p.entity.toLowerCase() !== label.toLowerCase() || p.legalEntity !== execution.legalEntityId) continue;
    for (const row of p.rows) planned.add(keyOf(p.keyIdx.map((i) => row[i] ?? '')));
  }
  const stored = context.rows.table(execution.environment, label, execution.legalEntityId, false);
  return (row) => {
    const values = idx.map((i) => (row[i] ?? '').trim());
    if (values.some((v) => v === '')) return undefined;
    const key = keyOf(values);
    if (planned.has(key) || stored?.has(key)) return undefined;
    const fields = idx.map((i) => columns[i] ?? '');
    return {
      field: fields[0] ?? '',
      message: `The value '${values.join("', '")}' in field '${fields.join("', '")}' is not found in the relation table '${label}'.`,
    };
  };
}

function force(execution: Execution, outcome: Outcome): void {
  execution.outcome = outcome;
  if (outcome === 'Failed' || outcome === 'Canceled') {
    failExecution(
      execution,
      outcome === 'Failed' ? 'Injected fault: the execution failed.' : 'The execution was canceled.',
    );
    execution.outcome = outcome;
  } else if (outcome === 'PartiallySucceeded' && execution.errors.length === 0) {
    // Keep errors, error files and target counts consistent: reject the last row of the first entity.
    const planned = execution.planned[0];
    const result = execution.entities.find((e) => e.entityName === planned?.entity);
    const row = planned?.rows.pop();
    const recordId = planned?.recordIds.pop();
    if (planned && result && row && recordId) {
      const message = 'Injected fault: the record was rejected.';
      const key = planned.keyIdx.map((i) => row[i] ?? '');
      result.stagingErrorCount++;
      result.targetRecords--;
      result.errorRows.push({ recordId, values: row, key, messages: [message] });
      execution.errors.push({
        RecordId: recordId,
        Field: result.keyFields[0] ?? '',
        ErrorMessage: message,
      });
    } else {
      execution.errors.push({
        RecordId: '0',
        Field: '',
        ErrorMessage: 'Injected fault: the execution partially succeeded.',
      });
    }
  }
}

/** Fails an execution: no rows reach the target, the message is its execution error. */
export function failExecution(execution: Execution, message: string): void {
  execution.outcome = 'Failed';
  execution.planned = [];
  for (const e of execution.entities) e.targetRecords = 0;
  execution.failureMessage = message;
  execution.errors.push({ RecordId: '0', Field: '', ErrorMessage: message });
}

/**
 * The source fields an import relies on the project's mapping for: the mapped columns of each
 * entity's file (all of them while the project's mapping is the config's generated one).
 */
export function reliedMapping(
  project: DataProjectDefinition,
  parsed: ParsedImport,
  projects: DataProjects,
): ReliedMapping[] {
  if (!parsed.ok) return [];
  return parsed.tables
    .filter((t) => t.hasMap)
    .map((t) => {
      const label = projects.entity(t.entity)?.label ?? t.entity;
      const mapped = project.entities.find(
        (e) => e.label.toLowerCase() === label.toLowerCase(),
      )?.mappedFields;
      const upper = new Set((mapped ?? []).map((f) => f.toUpperCase()));
      const fields = t.table.columns.filter(
        (c) => mapped === null || mapped === undefined || upper.has(c.toUpperCase()),
      );
      return { entity: label, fields };
    });
}

/**
 * Why an import can no longer run on its project's current definition: ImportFromPackage with
 * `overwrite` replaced the project's mapping while it ran, and fields it relies on are no longer
 * mapped (RIS issue #93: a later file "destroyed the field mapping and that breaks the execution"
 * of the files still being processed). Undefined when nothing it relies on changed.
 */
export function mappingLoss(execution: Execution, projects: DataProjects): string | undefined {
  const project = projects.get(execution.definitionGroupId);
  if (!project || execution.projectRevision === undefined || project.revision === execution.projectRevision)
    return undefined;
  for (const relied of execution.relied ?? []) {
    const now = project.entities.find((e) => e.label.toLowerCase() === relied.entity.toLowerCase());
    if (now?.mappedFields === null) continue;
    const mapped = new Set((now?.mappedFields ?? []).map((f) => f.toUpperCase()));
    const lost = relied.fields.filter((f) => !mapped.has(f.toUpperCase()));
    if (lost.length === 0) continue;
    const by = project.definedBy ? ` by execution '${project.definedBy}'` : '';
    return now
      ? `The field mapping of entity '${relied.entity}' in data project '${project.name}' was replaced${by} (ImportFromPackage with overwrite) while this execution was running; no longer mapped: ${lost.join(', ')}.`
      : `Entity '${relied.entity}' is no longer part of data project '${project.name}': its definition was replaced${by} (ImportFromPackage with overwrite) while this execution was running.`;
  }
  return undefined;
}
