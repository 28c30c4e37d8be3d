/** What the blob triggers read from a delivery. */
import type { InvocationContext } from '@azure/functions';
import { z } from 'zod';
import { unquoteEtag } from '../../shared/util.js';

const Metadata = z.object({
  name: z.string().min(1),
  properties: z.record(z.string(), z.unknown()).optional(),
});

/**
 * The delivered blob's name (path in its container) and, when the host says, the ETag of the
 * delivered version (whatever the casing of the property), unquoted.
 */
export function deliveredBlob(context: InvocationContext): { name: string; etag: string | undefined } {
  const meta = Metadata.parse(context.triggerMetadata);
  const entry = Object.entries(meta.properties ?? {}).find(([k]) => k.toLowerCase() === 'etag');
  return { name: meta.name, etag: typeof entry?.[1] === 'string' ? unquoteEtag(entry[1]) : undefined };
}
