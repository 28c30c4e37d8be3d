/**
 * The broker's AMQP front end: the rhea container and its TCP listener, the open connections and
 * sockets, and stopping them all without hanging. Link events go to the links (links.ts); a
 * connection that goes away takes its receivers and reply links with it.
 */
import { randomUUID } from 'node:crypto';
import type { Server, Socket } from 'node:net';
import rhea from 'rhea';
import type { Connection, EventContext } from 'rhea';
import type { RequestResponseNodes } from './cbs.js';
import type { BrokerLinks } from './links.js';

const STOP_GRACE_MS = 1000;

/** The listener and connections of one broker. */
export class BrokerConnections {
  private readonly connections = new Set<Connection>();
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;

  /** @param listenError builds the error for a listener that cannot start. */
  constructor(
    private readonly links: BrokerLinks,
    private readonly nodes: RequestResponseNodes,
    private readonly listenError: (message: string, cause?: unknown) => Error,
  ) {}

  /** Listens on `host:port` (0 = a free port); resolves with the port. */
  async listen(host: string, port: number): Promise<number> {
    const container = rhea.create_container({
      id: `dmf-servicebus-broker-${randomUUID()}`,
      // Sends are accepted or rejected explicitly once the broker has looked at them.
      autoaccept: false,
      // Abandon (modified) and release are different outcomes here; keep rhea from merging them.
      treat_modified_as_released: false,
    });
    container.on('connection_open', (ctx: EventContext) => {
      this.connections.add(ctx.connection);
    });
    container.on('disconnected', (ctx: EventContext) => this.onConnectionGone(ctx.connection));
    container.on('connection_close', (ctx: EventContext) => this.onConnectionGone(ctx.connection));
    // Without listeners rhea rethrows peer errors on the container and crashes the process.
    container.on('connection_error', () => undefined);
    container.on('session_error', () => undefined);
    container.on('sender_error', () => undefined);
    container.on('receiver_error', () => undefined);
    container.on('protocol_error', () => undefined);
    container.on('error', () => undefined);
    container.on('sender_open', (ctx: EventContext) => {
      if (ctx.sender) this.links.onClientReceiverAttached(ctx.sender, ctx.connection);
    });
    container.on('receiver_open', (ctx: EventContext) => {
      if (ctx.receiver) this.links.onClientSenderAttached(ctx.receiver, ctx.connection);
    });
    container.on('sender_close', (ctx: EventContext) => {
      if (ctx.sender) this.links.detachSender(ctx.sender, ctx.connection);
    });

    const server = container.listen({ host, port });
    this.server = server;
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', (error) =>
        reject(
          this.listenError(`Service Bus broker cannot listen on ${host}:${port}: ${error.message}`, error),
        ),
      );
    });
    const address = server.address();
    if (address === null || typeof address === 'string') {
      throw this.listenError('Service Bus broker has no TCP address');
    }
    return address.port;
  }

  /** Closes every client connection and the listener; never waits longer than about a second. */
  async stop(): Promise<void> {
    const server = this.server;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const connection of this.connections) {
      try {
        connection.close({ condition: 'amqp:connection:forced', description: 'The broker is stopping.' });
      } catch {
        // The socket may already be gone; it is destroyed below anyway.
      }
    }
    // Give clients a moment to answer the close, then cut whatever is left so stop() never hangs.
    const socketsClosed = Promise.all(
      [...this.sockets].map(
        (socket) => new Promise<void>((resolve) => socket.once('close', () => resolve())),
      ),
    );
    let graceTimer: NodeJS.Timeout | undefined;
    await Promise.race([
      socketsClosed,
      new Promise<void>((resolve) => {
        graceTimer = setTimeout(resolve, STOP_GRACE_MS);
      }),
    ]);
    clearTimeout(graceTimer);
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /** AMQP connections clients have open now. */
  openConnections(): number {
    return this.connections.size;
  }

  private onConnectionGone(connection: Connection): void {
    this.connections.delete(connection);
    this.nodes.dropConnection(connection);
    this.links.dropConnection(connection);
  }
}
