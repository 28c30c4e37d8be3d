/**
 * Conformance, raw HTTP (no app code): data projects and ImportFromPackage as F&O treats them.
 * Rule 1 (project creation, `overwrite`): RIS issues #47, #54, #75, #93 and Microsoft's
 * DataPackageHandler sample. Rule 2 (no parallel ImportFromPackage): data-management-api.md,
 * data-para.md ("Enhanced parallel package import") and dm-error-descriptions.md (DMF2025).
 */
import { describe, expect, it } from 'vitest';
import type { RunningEmulator } from '../index.js';
import {
  action,
  executionErrors,
  HEADER_XML,
  innerMessage,
  mappedManifestXml,
  startImport,
  summary,
  useTestEmulator,
  utf16,
  valueOf,
  zip,
} from './helpers.js';

let em: RunningEmulator, token: string;
useTestEmulator((e, t) => ([em, token] = [e, t]));

const CSV = 'CUSTOMERACCOUNT,NAME\r\nP-1,Contoso\r\nP-2,Fabrikam\r\n';

/** A one-entity package whose manifest maps `fields` (none: no EntityMapList). */
function pkg(options: { entity?: string; csv?: string; fields?: string[] } = {}): Promise<Buffer> {
  const entity = options.entity ?? 'Customers V3';
  return zip({
    'Manifest.xml': utf16(
      mappedManifestXml(entity, `${entity}.csv`, options.fields ?? ['CUSTOMERACCOUNT', 'NAME']),
    ),
    'PackageHeader.xml': utf16(HEADER_XML),
    [`${entity}.csv`]: options.csv ?? CSV,
  });
}

async function errorsOf(executionId: string): Promise<{ ErrorMessage: string }[]> {
  return await executionErrors(em, token, executionId);
}

describe('rule 1: ImportFromPackage creates and overwrites data projects (RIS #47, #54, #75, #93)', () => {
  it('an unknown definitionGroupId creates the project from the package manifest (RIS #47; the DataPackageHandler sample imports into "Integration-data-project-01")', async () => {
    expect((await em.control.projects()).map((p) => p.name)).not.toContain('Integration-data-project-01');
    const started = await startImport(em, token, await pkg(), {
      definitionGroupId: 'Integration-data-project-01',
    });
    const id = valueOf(started) as string;
    await em.control.advanceClock(2_000);
    expect(await summary(em, token, id)).toBe('Succeeded');
    const project = (await em.control.projects()).find((p) => p.name === 'Integration-data-project-01');
    expect(project).toMatchObject({
      direction: 'import',
      origin: 'package',
      revision: 1,
      definedBy: id,
      entities: [{ label: 'Customers V3', mappedFields: ['CUSTOMERACCOUNT', 'NAME'] }],
    });
    expect((await em.control.rows('Customers V3', 'USMF')).map((r) => r.CUSTOMERACCOUNT)).toEqual([
      'P-1',
      'P-2',
    ]);
    // data-management-api.md: "The export data project must be created before you call this API."
    const exported = await action(
      em,
      'ExportToPackage',
      {
        definitionGroupId: 'Never-created',
        packageName: 'p',
        executionId: '',
        reExecute: false,
        legalEntityId: 'USMF',
      },
      token,
    );
    expect(exported.status).toBe(400);
  });

  it('an existing project with overwrite:false answers 400 with the exception RIS #54 and #75 quote from F&O', async () => {
    const refused = await startImport(em, token, await pkg(), { overwrite: false });
    expect(refused.status).toBe(400);
    expect(innerMessage(refused.body)).toBe(
      "Exception occurred while executing action ImportFromPackage on Entity DataManagementDefinitionGroup: The data project 'CustomerImport' exists and overwrite has not been specified.",
    );
    expect(refused.body).toMatchObject({
      error: { innererror: { type: 'System.InvalidOperationException' } },
    });
    // A project ImportFromPackage created is just as existing.
    const created = valueOf(
      await startImport(em, token, await pkg(), { definitionGroupId: 'Made-by-package' }),
    ) as string;
    await em.control.advanceClock(2_000);
    const again = await startImport(em, token, await pkg(), {
      definitionGroupId: 'made-by-package',
      overwrite: false,
    });
    expect(again.status).toBe(400);
    expect(innerMessage(again.body)).toContain("The data project 'Made-by-package' exists");
    expect((await em.control.executions()).map((e) => e.executionId)).toEqual([created]);
  });

  it("overwrite:true replaces the project's definition, entities and mapping, with the package's (RIS #75: the project's own settings are reset)", async () => {
    const before = (await em.control.projects()).find((p) => p.name === 'CustomerImport');
    expect(before).toMatchObject({ origin: 'config', revision: 1, entities: [{ label: 'Customers V3' }] });
    const id = valueOf(
      await startImport(
        em,
        token,
        await pkg({
          entity: 'Fixed asset major type',
          csv: 'MAJORTYPEID,DESCRIPTION\r\nM-1,Major\r\n',
          fields: ['MAJORTYPEID'],
        }),
      ),
    ) as string;
    await em.control.advanceClock(2_000);
    expect(await summary(em, token, id)).toBe('Succeeded');
    const after = (await em.control.projects()).find((p) => p.name === 'CustomerImport');
    expect(after).toMatchObject({
      origin: 'package',
      revision: 2,
      definedBy: id,
      entities: [{ label: 'Fixed asset major type', mappedFields: ['MAJORTYPEID'] }],
    });
  });

  it('a package with a stale mapping (here: no EntityMapList) imported with overwrite fails the executions still running on the old mapping (RIS #93)', async () => {
    // Isolate this rule from rule 2 with F&O's own switch for parallel package imports.
    await em.control.setOptions({ enhancedParallelPackageImport: true });
    const running = valueOf(await startImport(em, token, await pkg())) as string;
    await em.control.advanceClock(500); // Executing
    const stale = valueOf(await startImport(em, token, await pkg({ fields: [] }))) as string;
    await em.control.advanceClock(2_000);
    expect(await summary(em, token, running)).toBe('Failed');
    expect((await errorsOf(running))[0]?.ErrorMessage).toBe(
      `The field mapping of entity 'Customers V3' in data project 'CustomerImport' was replaced by execution '${stale}' (ImportFromPackage with overwrite) while this execution was running; no longer mapped: CUSTOMERACCOUNT, NAME.`,
    );
    // The stale package itself "succeeds" with 0 rows (no EntityMapList), so nothing arrived at all.
    expect(await summary(em, token, stale)).toBe('Succeeded');
    expect(await em.control.rows('Customers V3', 'USMF')).toEqual([]);
  });

  it('the same mapping imported again with overwrite breaks nothing (RIS #93 is about a changed mapping)', async () => {
    await em.control.setOptions({ enhancedParallelPackageImport: true });
    const first = valueOf(await startImport(em, token, await pkg())) as string;
    await em.control.advanceClock(500);
    const second = valueOf(
      await startImport(em, token, await pkg({ csv: 'CUSTOMERACCOUNT,NAME\r\nP-3,Adatum\r\n' })),
    ) as string;
    await em.control.advanceClock(2_000);
    expect(await summary(em, token, first)).toBe('Succeeded');
    expect(await summary(em, token, second)).toBe('Succeeded');
    expect(await em.control.rows('Customers V3', 'USMF')).toHaveLength(3);
  });
});

describe('rule 2: ImportFromPackage must not be called in parallel (data-management-api.md; data-para.md; DMF2025)', () => {
  it('a second ImportFromPackage while one is running on the environment is accepted, then its execution fails naming the overlap; both are recorded', async () => {
    const first = valueOf(await startImport(em, token, await pkg())) as string;
    await em.control.advanceClock(100); // NotRun still counts: the batch job has started
    // Another project of the same environment: the docs' rule is about the calls, not a project.
    const second = valueOf(
      await startImport(
        em,
        token,
        await pkg({
          entity: 'Fixed asset major type',
          csv: 'MAJORTYPEID\r\nM-2\r\n',
          fields: ['MAJORTYPEID'],
        }),
        { definitionGroupId: 'Asset-Major-Types' },
      ),
    ) as string;
    expect(await summary(em, token, second)).toBe('NotRun');
    await em.control.advanceClock(2_000);
    expect(await summary(em, token, first)).toBe('Succeeded');
    expect(await summary(em, token, second)).toBe('Failed');
    const message = (await errorsOf(second))[0]?.ErrorMessage ?? '';
    expect(message).toContain('DMF2025');
    expect(message).toContain(`while execution '${first}'`);
    expect(message).toContain('Enhanced parallel package import');
    expect(await em.control.overlaps()).toEqual([
      expect.objectContaining({
        first: expect.objectContaining({ executionId: first }) as unknown,
        second: expect.objectContaining({ executionId: second }) as unknown,
        secondFailed: true,
      }),
    ]);
    expect(await em.control.rows('Fixed asset major type', 'USMF')).toEqual([]);
    const calls = (await em.control.calls()).filter((c) => c.route === 'ImportFromPackage');
    expect(calls.map((c) => c.status)).toEqual([200, 200]);
  });

  it('one after the other (the first has ended) is fine', async () => {
    const first = valueOf(await startImport(em, token, await pkg())) as string;
    await em.control.advanceClock(2_000);
    const second = valueOf(await startImport(em, token, await pkg())) as string;
    await em.control.advanceClock(2_000);
    expect([await summary(em, token, first), await summary(em, token, second)]).toEqual([
      'Succeeded',
      'Succeeded',
    ]);
    expect(await em.control.overlaps()).toEqual([]);
  });

  it('with "Enhanced parallel package import" (the enhancedParallelPackageImport switch) the overlap is only recorded', async () => {
    await em.control.setOptions({ enhancedParallelPackageImport: true });
    const first = valueOf(await startImport(em, token, await pkg())) as string;
    const second = valueOf(
      await startImport(em, token, await pkg({ csv: 'CUSTOMERACCOUNT,NAME\r\nP-9,Lenient\r\n' })),
    ) as string;
    await em.control.advanceClock(2_000);
    expect([await summary(em, token, first), await summary(em, token, second)]).toEqual([
      'Succeeded',
      'Succeeded',
    ]);
    expect(await em.control.overlaps()).toEqual([expect.objectContaining({ secondFailed: false })]);
  });

  it('recurring imports are not ImportFromPackage calls: an enqueue while a package import runs overlaps nothing', async () => {
    const first = valueOf(await startImport(em, token, await pkg())) as string;
    const res = await fetch(
      `${em.baseUrl}/api/connector/enqueue/${em.recurring.importActivityId ?? ''}?entity=Customers%20V3`,
      { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: 'CUSTOMERACCOUNT\r\nR-1\r\n' },
    );
    expect(res.status).toBe(200);
    await res.text();
    await em.control.advanceClock(5_000);
    expect(await summary(em, token, first)).toBe('Succeeded');
    expect(await em.control.overlaps()).toEqual([]);
  });
});
