/**
 * In-process Service Bus broker for local runs and tests, plus thin helpers around the real SDK.
 * See README.md > "Local Service Bus broker" for what the broker supports.
 */
export {
  startServiceBusBroker,
  ServiceBusBrokerError,
  EMULATOR_KEY_NAME,
  EMULATOR_KEY_VALUE,
  MAX_MESSAGE_SIZE_BYTES,
  DEAD_LETTER_QUEUE_SUFFIX,
  type StartServiceBusBrokerOptions,
  type ServiceBusBroker,
  type EntitySnapshot,
  type DeadLetteredMessage,
} from './broker.js';
export {
  startServiceBusListener,
  sendServiceBusMessages,
  type ServiceBusListenerOptions,
  type ServiceBusListener,
  type SendServiceBusMessagesOptions,
} from './client.js';
export type { ServiceBusMessage, ServiceBusReceivedMessage } from '@azure/service-bus';
export { systemClock, ManualClock, type BrokerClock, type BrokerTimer } from './clock.js';
export {
  DEFAULT_SERVICE_BUS_CONFIG,
  DEFAULT_SERVICE_BUS_CONFIG_PATH,
  DEFAULT_NAMESPACE_NAME,
  brokerConfigSchema,
  parseBrokerConfig,
  loadBrokerConfig,
  parseIsoDuration,
  type BrokerConfig,
  type ParsedBrokerConfig,
} from './config.js';
export { ConfigError, DevhostError, InputError, type ConfigIssue } from '../errors.js';
