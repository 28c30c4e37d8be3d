/**
 * The local Service Bus broker's entry: {@link startServiceBusBroker} and what it returns. The
 * broker is put together from its parts: entities.ts (queues, topics, subscriptions and their
 * messages), links.ts (client senders and receivers: transfers, credit, settlement), cbs.ts
 * (`$cbs` and `$management` request/response), connections.ts (the AMQP listener) and amqp.ts
 * (the vocabulary they share).
 */
import { DevhostError } from '../errors.js';
import { RequestResponseNodes } from './cbs.js';
import { systemClock, type BrokerClock } from './clock.js';
import {
  DEFAULT_SERVICE_BUS_CONFIG,
  loadBrokerConfig,
  parseBrokerConfig,
  type BrokerConfig,
} from './config.js';
import { BrokerConnections } from './connections.js';
import { BrokerEntities, type DeadLetteredMessage, type EntitySnapshot } from './entities.js';
import { BrokerLinks } from './links.js';

export { DEAD_LETTER_QUEUE_SUFFIX, type DeadLetteredMessage, type EntitySnapshot } from './entities.js';
export { MAX_MESSAGE_SIZE_BYTES } from './links.js';

/** Shared access key name put in the broker's connection string (the emulator's well-known one). */
export const EMULATOR_KEY_NAME = 'RootManageSharedAccessKey';
/** Placeholder key of the emulator's documented connection string; the broker accepts any token. */
export const EMULATOR_KEY_VALUE = 'SAS_KEY_VALUE';

/** Options for {@link startServiceBusBroker}. */
export interface StartServiceBusBrokerOptions {
  /** Config file path or an already-built config object. Default: `devhost/servicebus/config.json`. */
  config?: string | BrokerConfig;
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string;
  /** Port to listen on; 0 picks a free one. Default 0. */
  port?: number;
  /** Time source for locks, scheduled messages and expiry. Default the system clock. */
  clock?: BrokerClock;
}

/** A running in-process broker. */
export interface ServiceBusBroker {
  /** `Endpoint=sb://HOST:PORT;…;UseDevelopmentEmulator=true`, usable by `@azure/service-bus`. */
  connectionString: string;
  /** Port the broker listens on. */
  port: number;
  /** Host the broker listens on. */
  host: string;
  /** Counts for every queue, topic and subscription. */
  entities(): EntitySnapshot[];
  /** Messages in the dead-letter queue of a queue or `topic/Subscriptions/sub`. */
  deadLetters(entityPath: string): DeadLetteredMessage[];
  /** AMQP connections clients have open now (shows whether a client reuses its connection). */
  openConnections(): number;
  /** Closes every client connection and the listener; never waits longer than about a second. */
  stop(): Promise<void>;
}

/** The broker could not start (bad config, port in use). */
export class ServiceBusBrokerError extends DevhostError {}

/**
 * Starts an in-process AMQP 1.0 broker that `@azure/service-bus` talks to with the returned
 * connection string (`UseDevelopmentEmulator=true` makes the SDK use plain TCP and honour the port).
 * Entities come from a config file shaped like the official emulator's `Config.json`.
 */
export async function startServiceBusBroker(
  options: StartServiceBusBrokerOptions = {},
): Promise<ServiceBusBroker> {
  const host = options.host ?? '127.0.0.1';
  const config =
    typeof options.config === 'string'
      ? await loadBrokerConfig(options.config)
      : parseBrokerConfig(options.config ?? DEFAULT_SERVICE_BUS_CONFIG);
  // The entities hand what becomes deliverable to the links, which are built on them.
  const entities = new BrokerEntities(config, options.clock ?? systemClock, (entity) => links.pump(entity));
  const nodes = new RequestResponseNodes(entities);
  const links = new BrokerLinks(entities, nodes);
  const connections = new BrokerConnections(
    links,
    nodes,
    (message, cause) => new ServiceBusBrokerError(message, { code: 'SERVICEBUS_BROKER_LISTEN', cause }),
  );
  const port = await connections.listen(host, options.port ?? 0);
  const endpointHost = host.includes(':') ? `[${host}]` : host;
  return {
    connectionString: `Endpoint=sb://${endpointHost}:${port};SharedAccessKeyName=${EMULATOR_KEY_NAME};SharedAccessKey=${EMULATOR_KEY_VALUE};UseDevelopmentEmulator=true`,
    port,
    host,
    entities: () => entities.entities(),
    deadLetters: (entityPath) => entities.deadLetters(entityPath),
    openConnections: () => connections.openConnections(),
    async stop() {
      if (entities.stopped) return;
      entities.stop();
      await connections.stop();
    },
  };
}
