import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';

/**
 * A real HTTP proxy that tunnels CONNECT requests, as a corporate egress proxy does; it records
 * each tunnel's target and Proxy-Authorization, and answers 407 when `password` is set and the
 * request does not carry it.
 */
export class TunnelProxy {
  readonly tunnels: { target: string; authorization: string | undefined }[] = [];
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(credentials?: { user: string; password: string }) {
    const expected = credentials
      ? `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString('base64')}`
      : undefined;
    this.#server = createServer((_req, res) => res.writeHead(405).end('CONNECT only'));
    this.#server.on('connect', (req, client: Socket, head: Buffer) => {
      this.#sockets.add(client);
      client.on('close', () => this.#sockets.delete(client));
      const authorization = req.headers['proxy-authorization'];
      this.tunnels.push({ target: req.url ?? '', authorization });
      if (expected && authorization !== expected) {
        client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n');
        return;
      }
      const [host, port] = (req.url ?? '').split(':');
      const upstream = connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      this.#sockets.add(upstream);
      upstream.on('close', () => this.#sockets.delete(upstream));
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
  }

  static async start(credentials?: { user: string; password: string }): Promise<TunnelProxy> {
    const proxy = new TunnelProxy(credentials);
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** `http://127.0.0.1:<port>`, with `user:password@` when given. */
  url(credentials?: { user: string; password: string }): string {
    const port = (this.#server.address() as AddressInfo).port;
    const auth = credentials
      ? `${encodeURIComponent(credentials.user)}:${encodeURIComponent(credentials.password)}@`
      : '';
    return `http://${auth}127.0.0.1:${port}`;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
