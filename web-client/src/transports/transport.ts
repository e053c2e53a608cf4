// What the chat needs from a transport; `stream.ts` adds resume on top.

import type { StreamRequest, TokenEvent } from '../types';

export type TransportName = 'sse' | 'ws' | 'graphql';

export interface Transport {
  readonly name: TransportName;
  /**
   * Start a stream. Calls `onSession` as soon as the session id is known
   * (before the first token), then yields the session's events in order.
   * Throws `AuthError`, `HttpError`, `ServerError` or a network failure.
   */
  start(req: StreamRequest, onSession: (sessionId: string, model: string | null) => void, signal: AbortSignal): AsyncIterable<TokenEvent>;
  /** The events of `sessionId` after seq `after` (all of them when null). */
  resume(sessionId: string, after: number | null, signal: AbortSignal): AsyncIterable<TokenEvent>;
  /** Stop the session's upstream now; its final event still arrives on the stream. */
  cancel(sessionId: string): Promise<void>;
  /** Close any connection the transport holds (sign-out). */
  close(): void;
}
