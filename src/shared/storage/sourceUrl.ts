/**
 * A url source (`{"url": "https://…?sig=…"}`) outside durable state: the trigger writes the url to a
 * blob of the job's staging folder before it starts the orchestration, whose input holds only
 * {@link displayUrl} and that blob's name; the prepare activity reads it, stages the content and
 * deletes it.
 */
import type { ContainerClient } from '@azure/storage-blob';
import { isNotFound, storageError, writeJsonBlob } from './blobs.js';

/** A url as it may be shown and stored: scheme, host, port and path (no credentials, query or fragment). */
export function displayUrl(url: string | URL): string {
  const u = new URL(url);
  return `${u.origin}${u.pathname}`;
}

/** Writes the url of a url source to `container/path`. */
export async function storeSourceUrl(container: ContainerClient, path: string, url: string): Promise<void> {
  await writeJsonBlob(container, path, { url });
}

/** Reads the url {@link storeSourceUrl} wrote; undefined when the blob is gone. */
export async function readSourceUrl(container: ContainerClient, path: string): Promise<string | undefined> {
  try {
    const text = (await container.getBlobClient(path).downloadToBuffer()).toString('utf8');
    const { url } = JSON.parse(text) as { url?: unknown };
    return typeof url === 'string' ? url : undefined;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw storageError(`reading ${container.containerName}/${path}`, error);
  }
}
