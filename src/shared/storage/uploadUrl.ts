/**
 * Direct upload urls (`POST /api/uploads`): a short-lived SAS that may create and write exactly one
 * blob, so a large file goes from the caller to storage without passing through a function.
 * Signed with a user delegation key when the app reaches storage with an identity (on Azure: the
 * managed identity needs "Storage Blob Delegator", which "Storage Blob Data Contributor"
 * includes), with the account key when it has a connection string holding one (Azurite).
 */
import {
  BlobSASPermissions,
  generateBlobSASQueryParameters,
  SASProtocol,
  StorageSharedKeyCredential,
  type BlobServiceClient,
  type ContainerClient,
} from '@azure/storage-blob';
import { DmfFunctionsError } from '../errors.js';
import type { StorageConnection } from '../config/index.js';
import { storageError } from './blobs.js';

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
 * Signs a write-only SAS for `container/path`, valid from 5 minutes ago (clock skew) to
 * `minutes` from `now`. Throws `UPLOAD_URL_UNAVAILABLE` (permanent) when the storage connection can
 * sign neither way (a connection string without an account key).
 */
export async function createUploadUrl(
  blobService: BlobServiceClient,
  connection: StorageConnection,
  container: ContainerClient,
  path: string,
  options: { now?: Date; minutes?: number } = {},
): Promise<UploadUrl> {
  const now = options.now ?? new Date();
  const startsOn = new Date(now.getTime() - 5 * 60_000);
  const expiresOn = new Date(now.getTime() + (options.minutes ?? UPLOAD_URL_MINUTES) * 60_000);
  const blob = container.getBlockBlobClient(path);
  const values = {
    containerName: container.containerName,
    blobName: path,
    permissions: BlobSASPermissions.parse('cw'),
    startsOn,
    expiresOn,
    // Azurite answers on http; Azure is always reached over https
    protocol: blob.url.startsWith('https:') ? SASProtocol.Https : SASProtocol.HttpsAndHttp,
  };
  let query: string;
  if (connection.kind === 'connectionString') {
    const credential = blobService.credential;
    if (!(credential instanceof StorageSharedKeyCredential)) {
      throw new DmfFunctionsError(
        'Upload urls need the storage account key or an identity; the storage connection string has neither.',
        { code: 'UPLOAD_URL_UNAVAILABLE', transient: false },
      );
    }
    query = generateBlobSASQueryParameters(values, credential).toString();
  } else {
    let key;
    try {
      key = await blobService.getUserDelegationKey(startsOn, expiresOn);
    } catch (error) {
      throw storageError('getting a user delegation key', error);
    }
    query = generateBlobSASQueryParameters(values, key, blobService.accountName).toString();
  }
  return { url: `${blob.url}?${query}`, expiresOn };
}
