/**
 * The files a job links to (result JSON, copied F&O error files, an export's package), as the
 * dashboard and the CLI list them: found in the job's result, served by `GET /api/jobs/{id}/files/{name}`.
 */

/** One blob a job's result names. */
export interface JobFile {
  /** Name in the files route: the blob's last path segment, made unique within the job. */
  name: string;
  /** What the file is: `result`, `staging`, `targetKeys`, `executionErrors`, `package`, … */
  kind: string;
  /** Entity label, when the result says which entity the file is about. */
  entity?: string;
  container: string;
  path: string;
  /** Size in bytes, when the result says. */
  bytes?: number;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

function splitBlobRef(ref: string): { container: string; path: string } | undefined {
  const slash = ref.indexOf('/');
  if (slash <= 0 || slash === ref.length - 1 || /^[a-z]+:/i.test(ref)) return undefined;
  return { container: ref.slice(0, slash), path: ref.slice(slash + 1) };
}

/**
 * Lists the blobs a job result refers to: `{ container, path }` objects (error files, packages)
 * and `…Blob` string fields holding `container/path` (the result JSON itself is `resultBlob`).
 * The archived source (`archivedTo`) is not offered: it is the operator's own input.
 */
export function jobFiles(result: unknown): JobFile[] {
  const found: Omit<JobFile, 'name'>[] = [];
  const visit = (value: unknown, key: string): void => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item, key);
      return;
    }
    if (!isRecord(value)) {
      if (typeof value === 'string' && /Blob$/.test(key)) {
        const ref = splitBlobRef(value);
        if (ref) found.push({ kind: key === 'resultBlob' ? 'result' : key.replace(/Blob$/, ''), ...ref });
      }
      return;
    }
    if (typeof value.container === 'string' && typeof value.path === 'string') {
      found.push({
        kind: typeof value.kind === 'string' ? value.kind : key.replace(/s$/, ''),
        ...(typeof value.entity === 'string' ? { entity: value.entity } : {}),
        container: value.container,
        path: value.path,
        ...(typeof value.bytes === 'number' ? { bytes: value.bytes } : {}),
      });
      return;
    }
    for (const [k, v] of Object.entries(value)) visit(v, k);
  };
  visit(result, '');
  const used = new Set<string>();
  const files: JobFile[] = [];
  for (const file of found) {
    if (files.some((f) => f.container === file.container && f.path === file.path)) continue;
    const base = file.path.split('/').pop() || 'file';
    let name = base;
    for (let n = 2; used.has(name); n++) name = base.replace(/(\.[^.]*)?$/, (ext) => `-${n}${ext}`);
    used.add(name);
    files.push({ name, ...file });
  }
  return files;
}
