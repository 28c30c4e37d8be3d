/**
 * Runs the local Service Bus broker alone: `npx tsx devhost/servicebus/main.ts [--config FILE]
 * [--host HOST] [--port N]`. Prints `SERVICEBUS_CONNECTION_STRING=…` and then `READY`, and runs until
 * SIGINT/SIGTERM. Flags fall back to env SERVICEBUS_BROKER_CONFIG, SERVICEBUS_BROKER_HOST,
 * SERVICEBUS_BROKER_PORT. Port 0 (the default) picks a free port.
 */
import { parseArgs } from 'node:util';
import { startServiceBusBroker } from './broker.js';

const { values } = parseArgs({
  options: {
    config: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
  },
});

try {
  const broker = await startServiceBusBroker({
    config: values.config ?? process.env.SERVICEBUS_BROKER_CONFIG,
    host: values.host ?? process.env.SERVICEBUS_BROKER_HOST,
    port: Number(values.port ?? process.env.SERVICEBUS_BROKER_PORT ?? 0),
  });
  // The connection string carries only the emulator's public placeholder key, so printing it is safe.
  process.stdout.write(`SERVICEBUS_CONNECTION_STRING=${broker.connectionString}\nREADY\n`);
  const shutdown = (): void => {
    void broker.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
