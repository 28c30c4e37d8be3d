import type { ServiceBusMessage, ServiceBusReceivedMessage } from '@azure/service-bus';
import type { AppRegistry } from '../core-api.js';
import type { BindingServices } from '../bindings.js';
import type { RpcBindingInfo, RpcTypedData } from '../core-types.js';
import { invokeRegistered, typedDataToValue } from '../invoke.js';
import type { HostLogger } from '../invoke.js';

/** App setting holding the Service Bus connection string when a binding names none. */
export const DEFAULT_SERVICE_BUS_SETTING = 'AzureWebJobsServiceBus';

type ServiceBusModule = {
  startServiceBusListener(options: {
    connectionString: string;
    queueName?: string;
    topicName?: string;
    subscriptionName?: string;
    handler: (message: ServiceBusReceivedMessage) => Promise<void>;
    maxConcurrentCalls?: number;
    onError?: (error: Error) => void;
  }): Promise<{ stop(): Promise<void> }>;
  sendServiceBusMessages(
    connectionString: string,
    entityName: string,
    messages: ServiceBusMessage | ServiceBusMessage[],
  ): Promise<void>;
};

/** Loaded lazily so the host runs without the broker module (and its AMQP dependencies) when unused. */
async function serviceBusModule(): Promise<ServiceBusModule> {
  const mod: ServiceBusModule = await import('../servicebus/index.js');
  return mod;
}

function connectionFor(binding: RpcBindingInfo, setting: (name: string) => string | undefined): string {
  const name =
    typeof binding.connection === 'string' && binding.connection !== ''
      ? binding.connection
      : DEFAULT_SERVICE_BUS_SETTING;
  const value = setting(name) ?? setting(`${name}__connectionString`);
  if (!value) throw new Error(`Service Bus binding: app setting ${name} (a connection string) is not set.`);
  return value;
}

/** The trigger payload the host sends for a message body: bytes, a string (JSON is tried) or JSON. */
export function serviceBusBodyToTypedData(body: unknown): RpcTypedData {
  if (Buffer.isBuffer(body)) return { bytes: body };
  if (body instanceof Uint8Array) return { bytes: Buffer.from(body) };
  if (typeof body === 'string') return { string: body };
  return { json: JSON.stringify(body ?? null) };
}

function typed(value: unknown): RpcTypedData | undefined {
  if (value === undefined || value === null) return undefined;
  if (value instanceof Date) return { string: value.toISOString() };
  if (typeof value === 'string') return { string: value };
  if (typeof value === 'number') return Number.isInteger(value) ? { int: value } : { double: value };
  if (typeof value === 'bigint') return { int: Number(value) };
  if (Buffer.isBuffer(value)) return { string: value.toString('utf8') };
  return { json: JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v)) };
}

/** Trigger metadata of a received message, named as the Service Bus extension names it. */
export function serviceBusTriggerMetadata(message: ServiceBusReceivedMessage): Record<string, RpcTypedData> {
  const props = message.applicationProperties ?? {};
  const fields: Record<string, unknown> = {
    MessageId: message.messageId,
    // The wire (and the JS SDK) count from 0; the .NET host reports it from 1.
    DeliveryCount: (message.deliveryCount ?? 0) + 1,
    EnqueuedTimeUtc: message.enqueuedTimeUtc,
    ExpiresAtUtc: message.expiresAtUtc,
    SequenceNumber:
      message.sequenceNumber === undefined ? undefined : Number(message.sequenceNumber.toString()),
    LockToken: message.lockToken,
    ContentType: message.contentType,
    CorrelationId: message.correlationId,
    Subject: message.subject,
    Label: message.subject,
    To: message.to,
    ReplyTo: message.replyTo,
    SessionId: message.sessionId,
    ApplicationProperties: props,
    UserProperties: props,
  };
  const out: Record<string, RpcTypedData> = {};
  for (const [k, v] of Object.entries(fields)) {
    const t = typed(v);
    if (t) out[k] = t;
  }
  return out;
}

function toMessages(data: RpcTypedData): ServiceBusMessage[] {
  const value = typedDataToValue(data);
  const items = Array.isArray(value) ? (value as unknown[]) : [value];
  return items.map((item) => {
    if (Buffer.isBuffer(item) || typeof item === 'string') return { body: item };
    return { body: JSON.stringify(item), contentType: 'application/json' };
  });
}

/** Sends a Service Bus output binding value (one message, or one per array element). */
export async function sendServiceBusOutput(
  binding: RpcBindingInfo,
  data: RpcTypedData,
  setting: (name: string) => string | undefined,
): Promise<void> {
  const entity = (binding.queueName ?? binding.topicName) as string | undefined;
  if (!entity) throw new Error('Service Bus output binding names neither queueName nor topicName.');
  const mod = await serviceBusModule();
  await mod.sendServiceBusMessages(connectionFor(binding, setting), entity, toMessages(data));
}

/** Options for {@link startServiceBusTriggers}. */
export interface ServiceBusTriggerOptions {
  registry: AppRegistry;
  logger: HostLogger;
  setting: (name: string) => string | undefined;
  bindings: BindingServices;
}

/**
 * Starts one peek-lock listener per Service Bus trigger. A handler error abandons the message (the
 * broker redelivers and dead-letters after MaxDeliveryCount), as the extension does.
 */
export async function startServiceBusTriggers(
  options: ServiceBusTriggerOptions,
): Promise<{ stop(): Promise<void> }> {
  const listeners: { stop(): Promise<void> }[] = [];
  for (const fn of options.registry.functions.values()) {
    const entry = Object.entries(fn.metadata.bindings).find(([, b]) => b.type === 'serviceBusTrigger');
    if (!entry) continue;
    const [triggerName, binding] = entry;
    const many = binding.cardinality === 'many';
    let connectionString: string;
    try {
      connectionString = connectionFor(binding, options.setting);
    } catch (err) {
      // As the host does when indexing fails: this function is disabled, the others run.
      options.logger(
        'error',
        'system',
        fn.metadata.name,
        `Service Bus trigger disabled: ${(err as Error).message}`,
      );
      continue;
    }
    const mod = await serviceBusModule();
    const listener = await mod.startServiceBusListener({
      connectionString,
      queueName: binding.queueName as string | undefined,
      topicName: binding.topicName as string | undefined,
      subscriptionName: binding.subscriptionName as string | undefined,
      maxConcurrentCalls: 1,
      onError: (error) =>
        options.logger('warning', 'system', fn.metadata.name, `Service Bus: ${error.message}`),
      handler: async (message) => {
        const body = serviceBusBodyToTypedData(message.body);
        const data: RpcTypedData = many ? { json: JSON.stringify([typedDataToValue(body)]) } : body;
        try {
          const response = await invokeRegistered(
            options.registry,
            fn,
            {
              inputData: [{ name: triggerName, data }, ...options.bindings.extraInputs(fn)],
              triggerMetadata: serviceBusTriggerMetadata(message),
            },
            options.logger,
          );
          await options.bindings.applyOutputs(fn, response.outputData ?? []);
        } catch (err) {
          options.logger(
            'error',
            'system',
            fn.metadata.name,
            `Executed with error: ${err instanceof Error ? err.message : String(err)}`,
          );
          throw err;
        }
      },
    });
    listeners.push(listener);
  }
  return {
    async stop() {
      await Promise.allSettled(listeners.map((l) => l.stop()));
    },
  };
}
