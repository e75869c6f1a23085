import { createConnection, createServer, type Server, type Socket } from "node:net";

/**
 * A TCP proxy on 127.0.0.1 that delays every chunk by `latencyMs` in each
 * direction: network latency between the service and its database, made
 * on one machine. Order is kept per direction.
 */
export class FaultProxy {
  readonly #target: { host: string; port: number };
  #latencyMs: number;
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();

  constructor(target: { host: string; port: number }, latencyMs: number) {
    this.#target = target;
    this.#latencyMs = latencyMs;
  }

  set latencyMs(ms: number) {
    this.#latencyMs = ms;
  }

  async listen(): Promise<number> {
    this.#server = createServer((client) => {
      const upstream = createConnection(this.#target);
      this.#sockets.add(client).add(upstream);
      const pipe = (from: Socket, to: Socket) => {
        from.on("data", (chunk) => {
          if (this.#latencyMs <= 0) to.write(chunk);
          else setTimeout(() => to.writable && to.write(chunk), this.#latencyMs);
        });
        from.on("close", () => setTimeout(() => to.destroy(), this.#latencyMs));
        from.on("error", () => to.destroy());
      };
      pipe(client, upstream);
      pipe(upstream, client);
      client.on("close", () => this.#sockets.delete(client));
      upstream.on("close", () => this.#sockets.delete(upstream));
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, "127.0.0.1", resolve));
    const address = this.#server.address();
    return typeof address === "object" && address ? address.port : 0;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) =>
      this.#server ? this.#server.close(() => resolve()) : resolve(),
    );
  }
}
