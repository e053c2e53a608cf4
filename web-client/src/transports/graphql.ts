// GraphQL over WebSocket with `graphql-ws` (the graphql-transport-ws
// protocol): `startStream` returns the session id, `onTokenReceived(sessionId,
// after)` streams its events (parts included: `graphql-parts.ts`),
// `cancelStream` stops it. The token goes in the `connection_init` payload.
// The client's own reconnect is off: after a drop the chat re-subscribes
// itself with `after` = the last seq it has.

import { createClient, type Client, type FormattedExecutionResult } from 'graphql-ws';

import { AuthError, DroppedError, ServerError, wsUrl } from '../api';
import type { Auth } from '../auth';
import type { StreamRequest, TokenEvent } from '../types';
import { PART_FIELDS, normalize, startVariables } from './graphql-parts';
import type { Transport } from './transport';

const START = `mutation Start($prompt: String!, $model: String, $messages: [MessageInput!], $tools: [ToolInput!],
    $toolChoice: ToolChoiceMode, $toolName: String, $reasoningBudgetTokens: Int) {
  startStream(prompt: $prompt, model: $model, messages: $messages, tools: $tools,
      toolChoice: $toolChoice, toolName: $toolName, reasoningBudgetTokens: $reasoningBudgetTokens) {
    sessionId model status error
  }
}`;
const SUBSCRIBE = `subscription Tokens($sessionId: String!, $after: Int) {
  onTokenReceived(sessionId: $sessionId, after: $after) {
    sessionId seq token isComplete timestamp stopReason
    usage { inputTokens outputTokens }
    error { code message retryable }
    ${PART_FIELDS}
  }
}`;
const CANCEL = `mutation Cancel($sessionId: String!) { cancelStream(sessionId: $sessionId) { status } }`;

/** Close codes that mean the token was refused. */
const AUTH_CLOSE_CODES = new Set([4401, 4403]);

export class GraphqlTransport implements Transport {
  readonly name = 'graphql' as const;
  private client: Client | null = null;
  /** The token of the latest `connection_init`. */
  private initToken: string | null = null;

  constructor(private readonly auth: Auth) {}

  async *start(req: StreamRequest, onSession: (id: string, model: string | null) => void, signal: AbortSignal): AsyncIterable<TokenEvent> {
    const data = await this.once<{ startStream: { sessionId: string; model: string | null; error: string | null } }>(
      START,
      startVariables(req),
      signal,
    );
    const started = data.startStream;
    if (started.error) throw new ServerError('start_failed', started.error);
    onSession(started.sessionId, started.model);
    yield* this.resume(started.sessionId, null, signal);
  }

  async *resume(sessionId: string, after: number | null, signal: AbortSignal): AsyncIterable<TokenEvent> {
    const it = this.connection().iterate<{ onTokenReceived: TokenEvent | null }>({
      query: SUBSCRIBE,
      variables: { sessionId, after },
    });
    const onAbort = () => void it.return?.();
    signal.addEventListener('abort', onAbort);
    try {
      for (;;) {
        const next = await it.next().catch((e: unknown) => {
          throw toError(e, this.initToken);
        });
        if (next.done) break;
        const ev = check(next.value).onTokenReceived;
        if (!ev) continue;
        yield normalize(ev);
        if (ev.isComplete) return;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      void it.return?.();
    }
    if (signal.aborted) return;
    throw new DroppedError('the subscription ended before the final event');
  }

  async cancel(sessionId: string): Promise<void> {
    await this.once(CANCEL, { sessionId }, new AbortController().signal);
  }

  close(): void {
    void this.client?.dispose();
    this.client = null;
  }

  private connection(): Client {
    this.client ??= createClient({
      url: wsUrl('/graphql'),
      lazy: true,
      lazyCloseTimeout: 30_000,
      keepAlive: 20_000,
      retryAttempts: 0,
      connectionParams: async () => {
        this.initToken = await this.auth.token();
        return { Authorization: `Bearer ${this.initToken}` };
      },
    });
    return this.client;
  }

  /** One query or mutation over the socket; its data, or the first error thrown. */
  private async once<T>(query: string, variables: Record<string, unknown>, signal: AbortSignal): Promise<T> {
    const it = this.connection().iterate<T>({ query, variables });
    const onAbort = () => void it.return?.();
    signal.addEventListener('abort', onAbort);
    try {
      const next = await it.next().catch((e: unknown) => {
        throw toError(e, this.initToken);
      });
      if (next.done) throw new DroppedError('no answer to the GraphQL operation');
      return check(next.value);
    } finally {
      signal.removeEventListener('abort', onAbort);
      void it.return?.();
    }
  }
}

/** The result's data, or its first error as a `ServerError` (`AuthError` for a refused token). */
function check<T>(result: FormattedExecutionResult<T, unknown>): T {
  const first = result.errors?.[0];
  if (first || !result.data) {
    const code = String((first?.extensions as { code?: unknown } | undefined)?.code ?? 'graphql_error');
    const message = first?.message ?? 'the GraphQL operation returned no data';
    if (code === 'missing_token' || code === 'unauthorized' || code === 'token_expired') throw new AuthError(message);
    throw new ServerError(code, message);
  }
  return result.data;
}

/** What `graphql-ws` throws (a CloseEvent, an array of GraphQL errors, an Error) as one of ours. */
function toError(e: unknown, token: string | null): Error {
  if (isCloseEvent(e)) {
    if (AUTH_CLOSE_CODES.has(e.code)) return new AuthError(`the GraphQL socket closed: ${e.reason || e.code}`, token);
    return new DroppedError(`the GraphQL socket closed (${e.code}${e.reason ? `: ${e.reason}` : ''})`);
  }
  if (Array.isArray(e)) {
    const first = e[0] as { message?: unknown; extensions?: { code?: unknown } } | undefined;
    const code = String(first?.extensions?.code ?? 'graphql_error');
    const message = typeof first?.message === 'string' ? first.message : 'GraphQL error';
    return code === 'missing_token' || code === 'unauthorized' ? new AuthError(message, token) : new ServerError(code, message);
  }
  if (e instanceof Error) return e;
  return new DroppedError(String(e));
}

function isCloseEvent(e: unknown): e is { code: number; reason: string } {
  return typeof e === 'object' && e !== null && 'code' in e && typeof (e as { code: unknown }).code === 'number' && 'reason' in e;
}
