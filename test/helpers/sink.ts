import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

type Answer = { status: number; headers?: Record<string, string>; body?: string };
/** An answer, one that comes when the test says (a promise), or none ('hang'). */
export type SinkAnswer = Answer | Promise<Answer> | 'hang';

/**
 * A real HTTP server standing in for a CRM, webhook or Slack: it records every request and answers
 * as the test says (`respond` gets the request and how many came before it).
 */
export class Sink {
  readonly requests: ReceivedRequest[] = [];
  respond: (request: ReceivedRequest, index: number) => SinkAnswer = () => ({ status: 200, body: 'ok' });
  readonly #server: Server;
  readonly #hanging = new Set<() => void>();

  private constructor() {
    this.#server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        const received = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body,
          at: Date.now(),
        };
        const index = this.requests.length;
        this.requests.push(received);
        const answering = this.respond(received, index);
        if (answering === 'hang') {
          const release = () => res.destroy();
          this.#hanging.add(release);
          res.on('close', () => this.#hanging.delete(release));
          return;
        }
        void Promise.resolve(answering).then((answer) => {
          if (res.destroyed) return;
          res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
          res.end(answer.body ?? '');
        });
      });
    });
  }

  static async start(): Promise<Sink> {
    const sink = new Sink();
    await new Promise<void>((resolve) => sink.#server.listen(0, '127.0.0.1', resolve));
    return sink;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/hook`;
  }

  /** Bodies of the requests received, parsed. */
  events<T = { id: string }>(): T[] {
    return this.requests.map((request) => JSON.parse(request.body) as T);
  }

  async close(): Promise<void> {
    for (const release of this.#hanging) release();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
