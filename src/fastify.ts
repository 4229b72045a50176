import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { pipelineOf, type Answer, type BufferedRequest } from './adapters/handle-request.ts';
import { WebhookError } from './errors.ts';
import type { Receiver } from './receiver.ts';
import type { AnyProvider } from './types.ts';

/** Options of {@link scrapehookFastify}. */
export interface ScrapehookFastifyOptions {
  /** The receiver that answers this route: `createReceiver({ provider: ... })`, of any provider. */
  receiver: Pick<Receiver<AnyProvider>, 'name' | 'fetchHandler'>;
  /**
   * The route, in Fastify's syntax: `:token` is a route parameter, read by providers that take
   * their token from the path. Every method is routed to the receiver, which answers 405 to all
   * but POST.
   * @example path: '/webhooks/apify/:token'
   */
  path: string;
}

/**
 * A Fastify 5 plugin that receives one provider's webhooks at one route. It is encapsulated: its
 * content-type parser (every type, `parseAs: 'buffer'`, so the raw bytes reach authentication) and
 * its error handler apply to its own route only, and it decorates nothing. It answers through
 * `reply`, so Fastify's hooks and logging see every request. The body limit is the receiver's
 * `limit` (Fastify's `bodyLimit` does not apply to this route); the time a body may take to arrive
 * is bounded by Fastify's own server options (`requestTimeout`, `connectionTimeout`), since Fastify
 * reads it, not by the receiver's `bodyTimeoutMs`.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { scrapehookFastify } from 'scrapehook/fastify';
 * const app = Fastify({ logger: true });
 * await app.register(scrapehookFastify, { receiver: hooks, path: '/webhooks/firecrawl' });
 * ```
 * @throws {TypeError} (when registered) when `receiver` is not made by `createReceiver()` or `path` is not a string starting with `/`.
 */
export const scrapehookFastify = fp(
  async function scrapehookFastify(app: FastifyInstance, options: ScrapehookFastifyOptions): Promise<void> {
    const pipeline = pipelineOf(options?.receiver);
    if (pipeline === undefined) {
      throw new TypeError('Expected `receiver` to be a receiver made by createReceiver(), got ' + (options?.receiver === null ? 'null' : typeof options?.receiver));
    }
    const { path } = options;
    if (typeof path !== 'string' || !path.startsWith('/')) {
      throw new TypeError(`Expected \`path\` to be a route path starting with /, such as '/webhooks/firecrawl', got ${JSON.stringify(path)}`);
    }
    // This plugin's own context (encapsulate: true): the parser and error handler stop here.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: pipeline.limit }, (_request: FastifyRequest, body: Buffer, done: (error: null, body: Buffer) => void) => {
      done(null, body);
    });
    app.setErrorHandler((error: FastifyError, request, reply) => {
      // Only reading the body can fail here: the pipeline answers everything else itself.
      send(reply, pipeline.refused(bufferedOf(request), bodyError(error, pipeline.limit)));
    });
    // Callback style (no async function, and no promise handed back to Fastify to watch): the
    // pipeline never rejects, and the reply is sent once it has answered.
    app.all(path, (request, reply) => {
      void pipeline.buffered(bufferedOf(request)).then((answer) => send(reply, answer));
    });
  },
  { fastify: '5.x', name: 'scrapehook', encapsulate: true },
);

function bufferedOf(request: FastifyRequest): BufferedRequest {
  return {
    method: request.method,
    url: request.url,
    params: request.params as Record<string, string> | undefined,
    headers: request.headers,
    body: Buffer.isBuffer(request.body) ? request.body : undefined,
  };
}

function send(reply: FastifyReply, answer: Answer): void {
  reply.code(answer.status);
  // The answer's headers one by one (reply.headers() makes an array of the keys first).
  const headers = answer.headers;
  for (const name in headers) reply.header(name, headers[name]);
  void reply.send(answer.body);
}

/** Fastify's errors while reading a body, as the receiver's own. */
function bodyError(error: FastifyError, limit: number): WebhookError {
  if (error.statusCode === 413) return new WebhookError('entity.too.large', `Body exceeds the limit of ${limit} bytes`);
  if (error.code === 'ECONNRESET' || error.code === 'ERR_STREAM_PREMATURE_CLOSE' || /aborted/i.test(error.message)) {
    return new WebhookError('request.aborted', 'The request was aborted before its body was read', { cause: error });
  }
  if (error.code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') {
    return new WebhookError('request.size.invalid', 'The body length does not match Content-Length', { cause: error });
  }
  return new WebhookError('internal', 'The body could not be read', { cause: error });
}
