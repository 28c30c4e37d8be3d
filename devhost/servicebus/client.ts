import {
  isServiceBusError,
  ServiceBusClient,
  type ProcessErrorArgs,
  type ServiceBusMessage,
  type ServiceBusReceivedMessage,
  type ServiceBusReceiver,
} from '@azure/service-bus';
import { InputError } from '../errors.js';

/** Options for {@link startServiceBusListener}: a queue, or a topic plus subscription. */
export interface ServiceBusListenerOptions {
  connectionString: string;
  queueName?: string;
  topicName?: string;
  subscriptionName?: string;
  /** Called once per message; resolving completes it, throwing abandons it (the broker dead-letters after MaxDeliveryCount). */
  handler: (message: ServiceBusReceivedMessage) => Promise<void>;
  /** Messages handled at once. Default 1. */
  maxConcurrentCalls?: number;
  /** Receives SDK-level errors (connection drops, settlement failures). Default: warn on stderr without secrets. */
  onError?: (error: Error) => void;
}

/** A running listener. */
export interface ServiceBusListener {
  /** Stops receiving and closes the receiver and client. */
  stop(): Promise<void>;
}

/** Options for {@link sendServiceBusMessages}. */
export interface SendServiceBusMessagesOptions {
  abortSignal?: AbortSignal;
  /** Per-operation timeout in milliseconds. Default 30 s. */
  timeoutMs?: number;
}

function createReceiver(client: ServiceBusClient, options: ServiceBusListenerOptions): ServiceBusReceiver {
  if (options.queueName !== undefined) {
    if (options.topicName !== undefined || options.subscriptionName !== undefined) {
      throw new InputError('Give either queueName or topicName + subscriptionName, not both.', {
        code: 'SERVICEBUS_LISTENER_ENTITY',
      });
    }
    return client.createReceiver(options.queueName, { receiveMode: 'peekLock' });
  }
  if (options.topicName !== undefined && options.subscriptionName !== undefined) {
    return client.createReceiver(options.topicName, options.subscriptionName, { receiveMode: 'peekLock' });
  }
  throw new InputError('A Service Bus listener needs queueName, or topicName and subscriptionName.', {
    code: 'SERVICEBUS_LISTENER_ENTITY',
  });
}

function entityLabel(options: ServiceBusListenerOptions): string {
  return options.queueName ?? `${options.topicName}/Subscriptions/${options.subscriptionName}`;
}

function defaultOnError(error: Error): void {
  console.warn(`[servicebus listener] ${error.name}: ${error.message}`);
}

/**
 * Receives messages with the real `@azure/service-bus` receiver in peek-lock mode and hands each
 * to `handler`: completes it when the handler resolves, abandons it when the handler throws.
 */
export async function startServiceBusListener(
  options: ServiceBusListenerOptions,
): Promise<ServiceBusListener> {
  const client = new ServiceBusClient(options.connectionString);
  let receiver: ServiceBusReceiver;
  try {
    receiver = createReceiver(client, options);
    // subscribe() would report a misspelt entity only through onError, forever; peeking fails fast.
    await receiver.peekMessages(1);
  } catch (error) {
    await client.close();
    if (isServiceBusError(error) && error.code === 'MessagingEntityNotFound') {
      throw new InputError(`Service Bus entity not found: ${entityLabel(options)}`, {
        code: 'SERVICEBUS_ENTITY_NOT_FOUND',
        cause: error,
      });
    }
    throw error;
  }
  const onError = options.onError ?? defaultOnError;
  const subscription = receiver.subscribe(
    {
      processMessage: async (message) => {
        try {
          await options.handler(message);
        } catch (error) {
          await receiver.abandonMessage(message);
          // Reported, not rethrown: the SDK would otherwise try to abandon a second time.
          onError(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        await receiver.completeMessage(message);
      },
      processError: async (args: ProcessErrorArgs) => {
        onError(args.error);
      },
    },
    { autoCompleteMessages: false, maxConcurrentCalls: options.maxConcurrentCalls ?? 1 },
  );
  let stopped: Promise<void> | undefined;
  return {
    stop() {
      stopped ??= (async () => {
        try {
          await subscription.close();
          await receiver.close();
        } finally {
          await client.close();
        }
      })();
      return stopped;
    },
  };
}

/** Sends one message or a batch to a queue or topic with the real SDK, then closes the client. */
export async function sendServiceBusMessages(
  connectionString: string,
  entityName: string,
  messages: ServiceBusMessage | ServiceBusMessage[],
  options: SendServiceBusMessagesOptions = {},
): Promise<void> {
  const client = new ServiceBusClient(connectionString, {
    retryOptions: { timeoutInMs: options.timeoutMs ?? 30_000, maxRetries: 2 },
  });
  try {
    const sender = client.createSender(entityName);
    try {
      await sender.sendMessages(messages, { abortSignal: options.abortSignal });
    } finally {
      await sender.close();
    }
  } finally {
    await client.close();
  }
}
