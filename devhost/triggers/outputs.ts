import { BlobServiceClient } from '@azure/storage-blob';
import type { RegisteredFunction } from '../core-api.js';
import type { RpcParameterBinding } from '../core-types.js';
import { stringOption, typedDataToValue } from '../invoke.js';
import type { HostLogger } from '../invoke.js';
import { sendServiceBusOutput } from './service-bus.js';

/** What output bindings need from the host. */
export interface OutputContext {
  setting: (name: string) => string | undefined;
  storageConnection: (name: string | undefined) => string | undefined;
  logger: HostLogger;
}

/**
 * Delivers a function's non-HTTP output bindings after it succeeded: Service Bus messages (queue or
 * topic) and blobs (`path` may use `{name}`-style values from `params`). Other types are logged as
 * unsupported and dropped.
 */
export async function applyOutputBindings(
  fn: RegisteredFunction,
  outputData: RpcParameterBinding[],
  ctx: OutputContext,
  params: Record<string, string> = {},
): Promise<void> {
  for (const out of outputData) {
    const binding = fn.metadata.bindings[out.name];
    if (!binding || out.data === undefined || out.data === null) continue;
    const type = String(binding.type);
    if (type === 'serviceBus') {
      await sendServiceBusOutput(binding, out.data, ctx.setting);
    } else if (type === 'blob') {
      const conn = ctx.storageConnection(
        typeof binding.connection === 'string' ? binding.connection : undefined,
      );
      if (!conn)
        throw new Error(
          `Blob output ${out.name}: no connection string for ${stringOption(binding, 'connection') ?? 'AzureWebJobsStorage'}.`,
        );
      const path = (stringOption(binding, 'path') ?? '').replace(
        /\{([^}]+)\}/g,
        (_m, k: string) => params[k] ?? `{${k}}`,
      );
      const slash = path.indexOf('/');
      const value = typedDataToValue(out.data);
      const body = Buffer.isBuffer(value)
        ? value
        : Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
      const container = BlobServiceClient.fromConnectionString(conn).getContainerClient(path.slice(0, slash));
      await container.createIfNotExists();
      await container.getBlockBlobClient(path.slice(slash + 1)).upload(body, body.length);
    } else {
      ctx.logger(
        'warning',
        'system',
        fn.metadata.name,
        `Output binding type ${type} (${out.name}) is not supported by the local host; value dropped.`,
      );
    }
  }
}
