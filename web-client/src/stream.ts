// One answer being streamed: starts it on a transport, hands each event to the
// view exactly once (by `seq`), and after a dropped connection resumes from
// the last seq it has, with backoff, until the final event arrives.

import { AuthError, DroppedError, HttpError, ServerError, isNetworkFailure } from './api';
import type { Auth } from './auth';
import type { Transport } from './transports/transport';
import type { EventError, StreamRequest, TokenEvent } from './types';

export type Phase = 'connecting' | 'streaming' | 'reconnecting' | 'signin';

export interface StreamView {
  phase(p: Phase): void;
  session(sessionId: string, model: string | null): void;
  token(ev: TokenEvent): void;
  /** The final event: done, stopped or a mid-stream error. */
  final(ev: TokenEvent): void;
  /** The stream could not start, or could not be resumed. */
  failed(err: EventError & { retryAfter?: number | null }): void;
  resumed(count: number): void;
}

/** Give up resuming after this long without a single event. */
const RESUME_GIVE_UP_MS = 120_000;
const BACKOFF_MS = [0, 250, 500, 1000, 2000, 4000];
/** How long Stop waits for the final event before cutting the connection. */
const STOP_WAIT_MS = 6_000;

export class StreamRun {
  private sessionId: string | null = null;
  private lastSeq: number | null = null;
  private readonly abort = new AbortController();
  private stopRequested = false;
  private finished = false;

  constructor(
    private readonly transport: Transport,
    private readonly auth: Auth,
    private readonly req: StreamRequest,
    private readonly view: StreamView,
  ) {}

  get running(): boolean {
    return !this.finished;
  }

  async run(): Promise<void> {
    let attempt = 0;
    let quietSince = Date.now();
    let resumes = 0;
    let shown: Phase = 'connecting';
    const phase = (p: Phase) => {
      if (p !== shown) this.view.phase((shown = p));
    };
    this.view.phase(shown);
    while (!this.abort.signal.aborted) {
      try {
        const events =
          this.sessionId === null
            ? this.transport.start(this.req, (id, model) => this.onSession(id, model), this.abort.signal)
            : this.transport.resume(this.sessionId, this.lastSeq, this.abort.signal);
        for await (const ev of events) {
          if (this.lastSeq !== null && ev.seq <= this.lastSeq) continue; // already shown
          if (ev.seq !== (this.lastSeq ?? -1) + 1) throw new DroppedError(`missing events before seq ${ev.seq}`);
          if (this.sessionId === null) this.onSession(ev.sessionId, null);
          phase('streaming');
          this.lastSeq = ev.seq;
          attempt = 0;
          quietSince = Date.now();
          if (ev.isComplete) {
            this.finish();
            this.view.final(ev);
            return;
          }
          this.view.token(ev);
        }
        throw new DroppedError('the stream ended before its final event');
      } catch (e) {
        if (this.abort.signal.aborted) break;
        if (e instanceof AuthError) {
          phase('signin');
          this.auth.rejected(e.token);
          await this.auth.token(); // waits for the user to sign in again
          phase(this.sessionId === null ? 'connecting' : 'reconnecting');
          continue;
        }
        const resumable = this.sessionId !== null && isNetworkFailure(e) && Date.now() - quietSince < RESUME_GIVE_UP_MS;
        if (!resumable) {
          this.finish();
          this.view.failed(describe(e, this.sessionId !== null));
          return;
        }
        phase('reconnecting');
        await this.pause(BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)] ?? 4000);
        attempt += 1;
        resumes += 1;
        this.view.resumed(resumes);
      }
    }
    this.finish();
  }

  /** Stop the answer: cancel upstream and wait for the final event (which shows as stopped). */
  async stop(): Promise<void> {
    if (this.finished || this.stopRequested) return;
    this.stopRequested = true;
    const id = this.sessionId;
    if (id !== null) {
      await this.transport.cancel(id).catch(() => {});
    }
    // The final event normally follows at once; don't let a dead connection hang the UI.
    window.setTimeout(() => {
      if (!this.finished) {
        this.abort.abort();
        this.finish();
        this.view.final({
          sessionId: id ?? '',
          seq: (this.lastSeq ?? -1) + 1,
          token: '',
          isComplete: true,
          stopReason: 'cancelled',
        });
      }
    }, id === null ? 0 : STOP_WAIT_MS);
  }

  /** Forget the answer without cancelling it (a new chat, a sign-out). */
  detach(): void {
    this.finish();
    this.abort.abort();
  }

  private onSession(id: string, model: string | null): void {
    if (this.sessionId !== null) return;
    this.sessionId = id;
    this.view.session(id, model);
    // Stop was pressed before the session existed: cancel it now.
    if (this.stopRequested) void this.transport.cancel(id).catch(() => {});
  }

  private finish(): void {
    this.finished = true;
  }

  /** Wait `ms`, and until the browser believes it is online. */
  private async pause(ms: number): Promise<void> {
    if (ms > 0) await new Promise((r) => window.setTimeout(r, ms));
    if (!navigator.onLine) {
      await new Promise<void>((resolve) => {
        const done = () => {
          window.removeEventListener('online', done);
          this.abort.signal.removeEventListener('abort', done);
          resolve();
        };
        window.addEventListener('online', done);
        this.abort.signal.addEventListener('abort', done);
      });
    }
  }
}

/** Codes that mean "busy, try again shortly". */
const RETRYABLE_CODES = new Set(['throttled', 'rate_limited', 'too_many_streams', 'too_many_sessions', 'shutting_down', 'service_unavailable']);

function sentence(s: string): string {
  const t = s.trim();
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

function describe(e: unknown, started: boolean): EventError & { retryAfter?: number | null } {
  if (e instanceof HttpError) {
    if (e.status === 429) {
      const wait = e.retryAfter ? ` Try again in ${e.retryAfter} s.` : ' Try again shortly.';
      return { code: e.code, message: sentence(e.message) + wait, retryable: true, retryAfter: e.retryAfter };
    }
    if (e.status === 413) {
      return { code: e.code, message: 'The message is larger than the gateway takes; remove an attachment or start a new chat.', retryable: false };
    }
    if (e.status === 404 && started) {
      return { code: e.code, message: 'The answer is no longer available on the gateway.', retryable: false };
    }
    return { code: e.code, message: sentence(e.message), retryable: e.status >= 500 || RETRYABLE_CODES.has(e.code) };
  }
  if (e instanceof ServerError) return { code: e.code, message: sentence(e.message), retryable: RETRYABLE_CODES.has(e.code) };
  if (isNetworkFailure(e)) {
    return {
      code: 'network',
      message: started ? 'The connection dropped and could not be resumed.' : 'Could not reach the gateway.',
      retryable: true,
    };
  }
  return { code: 'error', message: e instanceof Error ? sentence(e.message) : String(e), retryable: false };
}
