import type { TestProject } from 'vitest/node';
import { startAzurite } from '../../emulator/azurite.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Connection string of the Azurite instance shared by the whole test run. */
    azuriteConnectionString: string;
    azuriteBlobEndpoint: string;
  }
}

/** Starts one Azurite for the whole run (random ports, in memory) and stops it afterwards. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const azurite = await startAzurite();
  project.provide('azuriteConnectionString', azurite.connectionString);
  project.provide('azuriteBlobEndpoint', azurite.blobEndpoint);
  return () => azurite.stop();
}
