import { randomBytes } from 'node:crypto';
import {
  BlobSASPermissions,
  BlobServiceClient,
  BlockBlobClient,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
  type ContainerClient,
} from '@azure/storage-blob';

/** Timeout of every storage call (Azurite is local; anything slower is a hang). */
export const STORAGE_TIMEOUT_MS = 120_000;

function signal(): AbortSignal {
  return AbortSignal.timeout(STORAGE_TIMEOUT_MS);
}

/** Service version of the SAS urls the emulator issues. */
export const SAS_VERSION = '2015-04-05';

/** The emulator's blob storage: one container per emulator instance in the given account. */
export class EmulatorStorage {
  readonly containerName: string;
  readonly container: ContainerClient;
  private readonly credential: StorageSharedKeyCredential;

  /** `containerName`: reuse this container (a restored state's); default a new random name. */
  constructor(connectionString: string, containerName?: string) {
    const parts = new Map(
      connectionString
        .split(';')
        .filter((p) => p.includes('='))
        .map((p) => {
          const i = p.indexOf('=');
          return [p.slice(0, i).trim().toLowerCase(), p.slice(i + 1).trim()] as const;
        }),
    );
    const account = parts.get('accountname');
    const key = parts.get('accountkey');
    if (!account || !key)
      throw new Error(
        'The storage connection string needs AccountName and AccountKey (SAS urls are signed with the key).',
      );
    this.credential = new StorageSharedKeyCredential(account, key);
    const service = BlobServiceClient.fromConnectionString(connectionString);
    this.containerName = containerName ?? `dmf-emulator-${randomBytes(4).toString('hex')}`;
    this.container = service.getContainerClient(this.containerName);
  }

  /** Creates the container if needed; resolves true when it had to be created. */
  async init(): Promise<boolean> {
    const result = await this.container.createIfNotExists({ abortSignal: signal() });
    return result.succeeded;
  }

  /** Deletes the container and everything in it. */
  async dispose(): Promise<void> {
    await this.container.deleteIfExists({ abortSignal: signal() }).catch(() => undefined);
  }

  /** Url of a blob without SAS. */
  blobUrl(blobName: string): string {
    return this.container.getBlockBlobClient(blobName).url;
  }

  /** Blob name for a blob url of this container, or undefined. */
  blobNameOf(url: string): string | undefined {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return undefined;
    }
    const base = new URL(this.container.url);
    const prefix = `${base.pathname.replace(/\/$/, '')}/`;
    if (parsed.host !== base.host || !parsed.pathname.startsWith(prefix)) return undefined;
    return decodeURIComponent(parsed.pathname.slice(prefix.length));
  }

  /** Service SAS url for one blob; `expiresOn` is real (wall-clock) time, which Azurite checks. */
  sasUrl(blobName: string, permissions: 'r' | 'rw', expiresOn: Date): string {
    const sas = generateBlobSASQueryParameters(
      {
        containerName: this.containerName,
        blobName,
        permissions: BlobSASPermissions.parse(permissions),
        startsOn: new Date(Math.min(Date.now() - 5 * 60_000, expiresOn.getTime() - 60_000)),
        expiresOn,
        // F&O signs with an old service version (sv=2014-02-14); 2015-04-05 is the oldest the SDK signs.
        version: SAS_VERSION,
      },
      this.credential,
    );
    // F&O's parameter order: sv, sr, st, se, sp, sig.
    const params = new URLSearchParams(sas.toString());
    const ordered = new URLSearchParams();
    for (const key of ['sv', 'sr', 'st', 'se', 'sp', 'sig']) {
      const value = params.get(key);
      if (value !== null) ordered.set(key, value);
    }
    for (const [key, value] of params) if (!ordered.has(key)) ordered.set(key, value);
    return `${this.blobUrl(blobName)}?${ordered.toString()}`;
  }

  /** Writes a blob. */
  async put(blobName: string, body: Buffer, contentType = 'application/octet-stream'): Promise<void> {
    await this.container
      .getBlockBlobClient(blobName)
      .uploadData(body, { blobHTTPHeaders: { blobContentType: contentType }, abortSignal: signal() });
  }

  /** Deletes a blob if it exists. */
  async delete(blobName: string): Promise<void> {
    await this.container.getBlockBlobClient(blobName).deleteIfExists({ abortSignal: signal() });
  }

  /** Reads a blob with the account key. */
  async get(blobName: string): Promise<Buffer> {
    return this.container
      .getBlockBlobClient(blobName)
      .downloadToBuffer(0, undefined, { abortSignal: signal() });
  }

  /** Reads a blob through a (SAS) url, as F&O does with a package url. */
  async getByUrl(url: string): Promise<Buffer> {
    return new BlockBlobClient(url).downloadToBuffer(0, undefined, { abortSignal: signal() });
  }
}
