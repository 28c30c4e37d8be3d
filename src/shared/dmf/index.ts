/**
 * Clients of the Dynamics 365 F&O data management APIs: the package REST API ({@link DmfPackageClient}),
 * the recurring integration API ({@link RecurringClient}) and SAS upload/download helpers.
 */
export * from './errors.js';
export * from './factory.js';
export * from './logger.js';
export * from './packageClient.js';
export * from './recurringClient.js';
export * from './retry.js';
export * from './sas.js';
export * from './schemas.js';
export {
  DEFAULT_TIMEOUT_MS,
  type DmfBody,
  type DmfCredential,
  type DmfRequestOptions,
  type DmfClientOptions,
  type DmfTransportOptions,
} from './transport.js';
