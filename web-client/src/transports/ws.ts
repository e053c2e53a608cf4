// The `/v1/ws` JSON protocol over the browser's WebSocket: one connection,
// opened when first needed and shared by every stream; each action carries a
// `requestId` that the gateway echoes on the messages answering it.
// Auth rides in the subprotocol list `["spillway.v1", "bearer.<JWT>"]`.

import { AuthError, DroppedError, ServerError, wsUrl } from '../api';
import type { Auth } from '../auth';
import { Channel } from '../channel';
import { isTokenEvent, type StreamRequest, type TokenEvent } from '../types';
import type { Transport } from './transport';

/** Close code the gateway uses when a connection's token expires. */
const CLOSE_TOKEN_EXPIRED = 4401;
/** Close code for a message over the gateway's size limit. */
const CLOSE_TOO_BIG = 1009;
const CONNECT_TIMEOUT_MS = 10_000;
/** Close the socket after this long with nothing running. */
const IDLE_CLOSE_MS = 60_000;

type Incoming = { kind: 'started'; sessionId: string; model: string | null } | { kind: 'event'; event: TokenEvent };

export class WsTransport implements Transport {
  readonly name = 'ws' as const;
  private socket: WebSocket | null = null;
  private ready: Promise<WebSocket> | null = null;
  private ops = new Map<string, Channel<Incoming>>();
  private nextId = 1;
  private idleTimer = 0;

  constructor(private readonly auth: Auth) {
    // A refreshed token is handed to the open connection in-band.
    auth.onChange(() => {
      if (this.socket?.readyState === WebSocket.OPEN && auth.signedIn) {
        void auth.token().then((token) => this.socket?.send(JSON.stringify({ action: 'auth', token })));
      }
    });
  }

  async *start(req: StreamRequest, onSession: (id: string, model: string | null) => void, signal: AbortSignal): AsyncIterable<TokenEvent> {
    yield* this.run({ ...req, action: 'stream' }, signal, onSession);
  }

  async *resume(sessionId: string, after: number | null, signal: AbortSignal): AsyncIterable<TokenEvent> {
    yield* this.run({ action: 'subscribe', sessionId, ...(after === null ? {} : { after }) }, signal, null);
  }

  async cancel(sessionId: string): Promise<void> {
    const ws = await this.connect();
    ws.send(JSON.stringify({ action: 'cancel', sessionId, requestId: `cancel-${this.nextId++}` }));
  }

  close(): void {
    this.socket?.close(1000, 'signed out');
  }

  private async *run(
    action: Record<string, unknown>,
    signal: AbortSignal,
    onSession: ((id: string, model: string | null) => void) | null,
  ): AsyncIterable<TokenEvent> {
    const ws = await this.connect();
    const requestId = `r${this.nextId++}`;
    const ch = new Channel<Incoming>();
    this.ops.set(requestId, ch);
    window.clearTimeout(this.idleTimer);
    const onAbort = () => {
      // Stop the server's side too (the chat was cleared, or Stop cut a hung stream).
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ action: 'cancel', requestId }));
      ch.fail(new DOMException('aborted', 'AbortError'));
    };
    signal.addEventListener('abort', onAbort);
    try {
      ws.send(JSON.stringify({ ...action, requestId }));
      for await (const m of ch) {
        if (m.kind === 'started') {
          onSession?.(m.sessionId, m.model);
          continue;
        }
        yield m.event;
        if (m.event.isComplete) return;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.ops.delete(requestId);
      this.closeWhenIdle();
    }
  }

  /** The open connection, opening it (and waiting for `connected`) when needed. */
  private connect(): Promise<WebSocket> {
    if (this.ready && this.socket && this.socket.readyState <= WebSocket.OPEN) return this.ready;
    this.ready = this.open();
    this.ready.catch(() => {
      this.ready = null;
    });
    return this.ready;
  }

  private async open(): Promise<WebSocket> {
    const token = await this.auth.token();
    const ws = new WebSocket(wsUrl('/v1/ws'), ['spillway.v1', `bearer.${token}`]);
    this.socket = ws;
    return new Promise<WebSocket>((resolve, reject) => {
      const timer = window.setTimeout(() => {
        reject(new DroppedError('the WebSocket did not connect in time'));
        ws.close();
      }, CONNECT_TIMEOUT_MS);
      ws.onmessage = (e) => {
        const msg = parse(e.data);
        if (msg?.type === 'connected') {
          window.clearTimeout(timer);
          resolve(ws);
          return;
        }
        if (msg) this.dispatch(msg);
      };
      ws.onclose = (e) => {
        window.clearTimeout(timer);
        if (this.socket === ws) {
          this.socket = null;
          this.ready = null;
        }
        const err =
          e.code === CLOSE_TOKEN_EXPIRED
            ? new AuthError('the WebSocket closed: token expired', token)
            : e.code === CLOSE_TOO_BIG
              ? new ServerError('too_large', 'The message is larger than the gateway takes over WebSocket; remove an attachment, send it over SSE, or start a new chat')
              : new DroppedError(`the WebSocket closed (${e.code}${e.reason ? `: ${e.reason}` : ''})`);
        reject(err);
        for (const ch of this.ops.values()) ch.fail(err);
        this.ops.clear();
      };
    });
  }

  private dispatch(msg: Record<string, unknown>): void {
    const rid = typeof msg.requestId === 'string' ? msg.requestId : null;
    const ch = rid === null ? undefined : this.ops.get(rid);
    if (!ch) return;
    if (msg.type === 'started' && typeof msg.sessionId === 'string') {
      ch.push({ kind: 'started', sessionId: msg.sessionId, model: typeof msg.model === 'string' ? msg.model : null });
    } else if (isTokenEvent(msg)) {
      ch.push({ kind: 'event', event: msg });
    } else if (msg.type === 'error') {
      const err = (msg.error ?? {}) as { code?: unknown; message?: unknown };
      const code = typeof err.code === 'string' ? err.code : 'error';
      const message = typeof err.message === 'string' ? err.message : 'the gateway refused the request';
      ch.fail(code === 'unauthorized' || code === 'token_expired' ? new AuthError(message) : new ServerError(code, message));
    }
  }

  private closeWhenIdle(): void {
    window.clearTimeout(this.idleTimer);
    if (this.ops.size > 0) return;
    this.idleTimer = window.setTimeout(() => {
      if (this.ops.size === 0) this.socket?.close(1000, 'idle');
    }, IDLE_CLOSE_MS);
  }
}

function parse(data: unknown): Record<string, unknown> | null {
  if (typeof data !== 'string') return null;
  try {
    const v: unknown = JSON.parse(data);
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
