// HTTP helpers and the errors every transport reports.

/** A JSON error answer from the gateway: `{"error":{"code","message"}}` with a real status. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds, from `Retry-After`. */
    readonly retryAfter: number | null = null,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** The token was refused (HTTP 401, WebSocket close 4401/4403): sign in, then try again. */
export class AuthError extends Error {
  constructor(
    message = 'your sign-in has expired',
    /** The token that was refused, when known (a newer one may already be held). */
    readonly token: string | null = null,
  ) {
    super(message);
    this.name = 'AuthError';
  }
}

/** The connection went away before the final event: resume from the last seq. */
export class DroppedError extends Error {
  constructor(message = 'the connection dropped') {
    super(message);
    this.name = 'DroppedError';
  }
}

/** The gateway refused a request on an open connection (WebSocket `error`, GraphQL `errors`). */
export class ServerError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ServerError';
  }
}

/** Turn a non-2xx response into an `HttpError` (or `AuthError` for 401). */
export async function errorFrom(res: Response, token: string | null = null): Promise<Error> {
  let code = `http_${res.status}`;
  let message = res.statusText || `HTTP ${res.status}`;
  try {
    const body: unknown = await res.json();
    const err = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    if (typeof err?.code === 'string') code = err.code;
    if (typeof err?.message === 'string') message = err.message;
  } catch {
    // Not JSON: keep the status text.
  }
  if (res.status === 401) return new AuthError(message, token);
  const retry = Number(res.headers.get('Retry-After'));
  return new HttpError(res.status, code, message, Number.isFinite(retry) && retry > 0 ? retry : null);
}

/** A fetch failure that is the network's fault (not an abort). */
export function isNetworkFailure(e: unknown): boolean {
  return e instanceof TypeError || e instanceof DroppedError;
}

export function wsUrl(path: string): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${path}`;
}
