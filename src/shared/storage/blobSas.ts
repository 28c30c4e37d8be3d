/**
 * SAS urls for one blob of the app's storage, signed with the account key when the app holds one
 * (a connection string with `AccountKey`, as on Azurite), otherwise with a user delegation key (the
 * managed identity: storage accounts deployed by infra/ refuse Shared Key; the identity needs
 * "Storage Blob Delegator", which "Storage Blob Data Contributor" and "… Owner" include). The one
 * home of blob SAS signing: direct upload urls (`uploadUrl.ts`) and the read SAS a server-side copy
 * hands to F&O's storage ({@link blobReadSasUrl}). A SAS url carries a credential: never log it or
 * put it in durable state (`urlForLog` strips the query).
 */
import {
  BlobSASPermissions,
  generateBlobSASQueryParameters,
  SASProtocol,
  StorageSharedKeyCredential,
  type BlobServiceClient,
} from '@azure/storage-blob';
import { StorageError, storageError } from './blobs.js';

/** Code of the error when the app's storage connection can sign no SAS (no account key, no identity). */
export const NO_SAS_SIGNER = 'STORAGE_NO_SAS_SIGNER';

/** What {@link signBlobSas} signs. */
export interface BlobSasRequest {
  /** SAS permissions, e.g. `r` or `cw`. */
  permissions: string;
  /** When the url stops working. */
  expiresOn: Date;
  /** Start of validity. Default 5 minutes ago (clock skew between us and the storage service). */
  startsOn?: Date;
  abortSignal?: AbortSignal;
}

/**
 * A SAS url for `container/path` with `permissions`, https-only on a https endpoint (Azurite's
 * http endpoint gets both). Throws `STORAGE_NO_SAS_SIGNER` (permanent) when the connection can sign
 * neither way, a `StorageError` when the user delegation key cannot be had.
 */
export async function signBlobSas(
  blobService: BlobServiceClient,
  container: string,
  path: string,
  request: BlobSasRequest,
): Promise<{ url: string; signedWith: 'accountKey' | 'userDelegation' }> {
  const blob = blobService.getContainerClient(container).getBlobClient(path);
  const startsOn = request.startsOn ?? new Date(Date.now() - 5 * 60_000);
  const values = {
    containerName: container,
    blobName: path,
    permissions: BlobSASPermissions.parse(request.permissions),
    startsOn,
    expiresOn: request.expiresOn,
    protocol: blob.url.startsWith('https:') ? SASProtocol.Https : SASProtocol.HttpsAndHttp,
  };
  const credential = blobService.credential;
  if (credential instanceof StorageSharedKeyCredential) {
    const sas = generateBlobSASQueryParameters(values, credential).toString();
    return { url: `${blob.url}?${sas}`, signedWith: 'accountKey' };
  }
  if (!('getToken' in credential)) {
    throw new StorageError('the storage connection can sign no SAS (no account key, no identity)', {
      code: NO_SAS_SIGNER,
      transient: false,
    });
  }
  let key;
  try {
    key = await blobService.getUserDelegationKey(startsOn, request.expiresOn, {
      abortSignal: request.abortSignal,
    });
  } catch (error) {
    throw storageError('getting a user delegation key', error);
  }
  const sas = generateBlobSASQueryParameters(values, key, blobService.accountName).toString();
  return { url: `${blob.url}?${sas}`, signedWith: 'userDelegation' };
}

/**
 * A short read-only SAS url of one blob, for a service that copies it server side (F&O's storage
 * reading our package with Put Block From URL). See {@link signBlobSas}.
 */
export function blobReadSasUrl(
  blobService: BlobServiceClient,
  container: string,
  path: string,
  options: { expiresOn: Date; abortSignal?: AbortSignal },
): Promise<{ url: string; signedWith: 'accountKey' | 'userDelegation' }> {
  return signBlobSas(blobService, container, path, { permissions: 'r', ...options });
}
