/** Credentials per F&O environment: Entra ID (secret, certificate, managed identity, workload identity) and AD FS. */
export * from './adfs.js';
export * from './credential.js';
export * from './errors.js';
export * from './types.js';
