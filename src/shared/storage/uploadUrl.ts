/**
 * Direct upload urls (`POST /api/uploads`): a short-lived SAS that may create and write exactly one
 * blob, so a large file goes from the caller to storage without passing through a function.
 * Signed with a user delegation key when the app reaches storage with an identity (on Azure: the
 * managed identity needs "Storage Blob Delegator", which "Storage Blob Data Contributor"
 * includes), with the account key when it has a connection string holding one (Azurite).
 */
import type { BlobServiceClient, ContainerClient } from '@azure/storage-blob';
import { DmfFunctionsError } from '../errors.js';
import { NO_SAS_SIGNER, signBlobSas } from './blobSas.js';
import { StorageError } from './blobs.js';

/** Minutes an upload url stays valid (each request of the upload must start before then). */
export const UPLOAD_URL_MINUTES = 60;

/** A direct upload url. */
export interface UploadUrl {
  /** The blob's url with a write-only SAS (create + write) for that blob alone. */
  url: string;
  /** When the SAS expires. */
  expiresOn: Date;
}

/**
 * Signs a write-only SAS for `container/path` ({@link signBlobSas}), valid from 5 minutes ago
 * (clock skew) to `minutes` from `now`. Throws `UPLOAD_URL_UNAVAILABLE` (permanent) when the storage connection can
 * sign neither way (a connection string without an account key).
 */
export async function createUploadUrl(
  blobService: BlobServiceClient,
  container: ContainerClient,
  path: string,
  options: { now?: Date; minutes?: number } = {},
): Promise<UploadUrl> {
  const now = options.now ?? new Date();
  const expiresOn = new Date(now.getTime() + (options.minutes ?? UPLOAD_URL_MINUTES) * 60_000);
  try {
    const { url } = await signBlobSas(blobService, container.containerName, path, {
      permissions: 'cw',
      startsOn: new Date(now.getTime() - 5 * 60_000),
      expiresOn,
    });
    return { url, expiresOn };
  } catch (error) {
    if (error instanceof StorageError && error.code === NO_SAS_SIGNER) {
      throw new DmfFunctionsError(
        'Upload urls need the storage account key or an identity; the storage connection string has neither.',
        { code: 'UPLOAD_URL_UNAVAILABLE', transient: false },
      );
    }
    throw error;
  }
}
