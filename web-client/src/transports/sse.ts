// HTTP + Server-Sent Events over `fetch` streaming (EventSource cannot send an
// Authorization header): `POST /v1/stream`, resume with
// `GET /v1/sessions/{id}/stream?after=SEQ`, stop with `POST /v1/sessions/{id}/cancel`.

import { EventSourceParserStream } from 'eventsource-parser/stream';

import { AuthError, DroppedError, errorFrom } from '../api';
import type { Auth } from '../auth';
import { isTokenEvent, type StreamRequest, type TokenEvent } from '../types';
import type { Transport } from './transport';

/** No byte (not even a heartbeat comment) for this long: treat the connection as dropped. */
const IDLE_MS = 45_000;

export class SseTransport implements Transport {
  readonly name = 'sse' as const;

  constructor(private readonly auth: Auth) {}

  async *start(req: StreamRequest, onSession: (id: string, model: string | null) => void, signal: AbortSignal): AsyncIterable<TokenEvent> {
    const res = await this.fetch('/v1/stream', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
      body: JSON.stringify(req),
      signal,
    });
    const id = res.headers.get('X-Session-Id');
    if (id) onSession(id, null);
    yield* events(res, signal);
  }

  async *resume(sessionId: string, after: number | null, signal: AbortSignal): AsyncIterable<TokenEvent> {
    const query = after === null ? '' : `?after=${after}`;
    const res = await this.fetch(`/v1/sessions/${encodeURIComponent(sessionId)}/stream${query}`, {
      headers: { Accept: 'text/event-stream' },
      signal,
    });
    yield* events(res, signal);
  }

  async cancel(sessionId: string): Promise<void> {
    await this.fetch(`/v1/sessions/${encodeURIComponent(sessionId)}/cancel`, { method: 'POST' });
  }

  close(): void {}

  private async fetch(path: string, init: RequestInit): Promise<Response> {
    const token = await this.auth.token();
    const headers = new Headers(init.headers);
    headers.set('Authorization', `Bearer ${token}`);
    const res = await fetch(path, { ...init, headers, cache: 'no-store' });
    if (!res.ok) throw await errorFrom(res, token);
    return res;
  }
}

async function* events(res: Response, signal: AbortSignal): AsyncIterable<TokenEvent> {
  if (!res.body) throw new DroppedError('the response has no body');
  const idle = new AbortController();
  let timer = 0;
  const touch = () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => idle.abort(), IDLE_MS);
  };
  const onAbort = () => void reader.cancel().catch(() => {});
  const reader = res.body
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(new EventSourceParserStream({ onComment: touch }))
    .getReader();
  idle.signal.addEventListener('abort', onAbort);
  signal.addEventListener('abort', onAbort);
  touch();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      touch();
      let data: unknown;
      try {
        data = JSON.parse(value.data);
      } catch {
        continue;
      }
      if (isTokenEvent(data)) yield data;
    }
  } catch (e) {
    if (e instanceof AuthError || signal.aborted) throw e;
    throw new DroppedError(e instanceof Error ? e.message : 'the stream broke off');
  } finally {
    window.clearTimeout(timer);
    idle.signal.removeEventListener('abort', onAbort);
    signal.removeEventListener('abort', onAbort);
    void reader.cancel().catch(() => {});
  }
  if (idle.signal.aborted) throw new DroppedError('the stream went quiet');
}
