/** Input and activity contracts of the `importPackage` orchestration (zod schemas, JSON-safe). */
import { z } from 'zod';
import type { PollingConfigSchema } from '../shared/config/index.js';

/** Where the file to import is. */
export const ImportSourceSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('blob'),
    container: z.string().min(3),
    path: z.string().min(1),
    /** Version delivered (the instance id was derived from it). */
    etag: z.string().optional(),
  }),
  z.strictObject({ kind: z.literal('url'), url: z.string().url() }),
]);
/** See {@link ImportSourceSchema}. */
export type ImportSource = z.infer<typeof ImportSourceSchema>;

/** The orchestration input: everything resolved by the trigger, nothing secret. */
export const ImportInputSchema = z.strictObject({
  source: ImportSourceSchema,
  /** `{environment}/{project}/[{legalEntity}/]{file}`: names the result folder and the archive path. */
  logicalPath: z.string().min(1),
  fileName: z.string().min(1),
  environment: z.string().min(1),
  /** Data project name (configuration). */
  project: z.string().min(1),
  definitionGroupId: z.string().min(1),
  legalEntity: z.string().min(1),
  execute: z.boolean(),
  overwrite: z.boolean(),
  trigger: z.enum(['blob', 'serviceBus', 'http']),
  correlationId: z.string().max(200).optional(),
  requestedAt: z.string(),
});
/** See {@link ImportInputSchema}. */
export type ImportInput = z.infer<typeof ImportInputSchema>;

/** A blob reference inside the app's storage. */
export const BlobRefSchema = z.strictObject({ container: z.string(), path: z.string() });
/** See {@link BlobRefSchema}. */
export type BlobRef = z.infer<typeof BlobRefSchema>;

/** A readable error. */
export const JobErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  entity: z.string().optional(),
  recordId: z.string().optional(),
  field: z.string().optional(),
});

/** Result of the prepare activity. */
export type PrepareResult =
  | {
      ok: true;
      /** The package to upload (the source itself, or a package built from the template). */
      packageBlob: BlobRef;
      /** The source as it now is in our storage (a url source is staged first). */
      sourceBlob: BlobRef;
      /** Blobs created for this job that are deleted when it finishes. */
      stagingBlobs: BlobRef[];
      /** Entity labels of the package (error files are fetched per entity). */
      entities: string[];
      /** `overwrite` to send (false when the package holds a composite entity). */
      overwrite: boolean;
      warnings: string[];
      polling: z.infer<typeof PollingConfigSchema>;
      concurrency: number;
    }
  | {
      ok: false;
      errors: z.infer<typeof JobErrorSchema>[];
      sourceBlob?: BlobRef;
      stagingBlobs: BlobRef[];
    };

/** Input of the upload-and-start activity. */
export interface UploadAndStartInput {
  instanceId: string;
  executionId: string;
  environment: string;
  packageBlob: BlobRef;
  definitionGroupId: string;
  legalEntity: string;
  execute: boolean;
  overwrite: boolean;
}

/** Output of the upload-and-start activity. */
export interface UploadAndStartResult {
  executionId: string;
  /** True when F&O already knew the execution (an earlier attempt had started it): nothing was sent. */
  alreadyStarted: boolean;
  bytes: number;
}

/** Output of the status activity. */
export type StatusResult =
  { kind: 'status'; status: string } | { kind: 'notFound' } | { kind: 'unavailable'; message: string };

/** Input of the error collection activity. */
export interface CollectErrorsInput {
  instanceId: string;
  environment: string;
  executionId: string;
  logicalPath: string;
  entities: string[];
  /** First call: fetch everything; later calls: only the target keys files still pending. */
  onlyTargetKeysFor?: string[];
}

/** Output of the error collection activity. */
export interface CollectErrorsResult {
  errors: z.infer<typeof JobErrorSchema>[];
  files: {
    kind: 'staging' | 'targetKeys' | 'executionErrors';
    entity?: string;
    container: string;
    path: string;
    bytes: number;
  }[];
  /** Entities whose target error keys file F&O is still generating. */
  pendingTargetKeys: string[];
}
