// Sign-in and the token every request carries. Tokens live in memory only:
// a reload signs in again (the Cognito Hosted UI remembers the user, so that
// is one redirect). Dev tokens are re-requested through the sign-in form when
// they expire; Cognito tokens are refreshed with the refresh token.

import { errorFrom } from './api';
import type { CognitoConfig, PublicConfig } from './types';

/** A token this close to its expiry is treated as expired. */
const EXPIRY_MARGIN_MS = 1_000;
/** Refresh Cognito tokens this long before they expire (or at half their life, if shorter). */
const REFRESH_AHEAD_MS = 60_000;
const PKCE_KEY = 'spillway.pkce';

interface Held {
  token: string;
  user: string;
  expiresAt: number;
  refreshToken: string | null;
}

export type SignInNeeded = (reason: string | null) => void;

export class Auth {
  private held: Held | null = null;
  private waiters: (() => void)[] = [];
  private timer: number | undefined;
  private listeners = new Set<() => void>();
  /** Called when a token is needed and none is valid: show the sign-in. */
  onSignInNeeded: SignInNeeded = () => {};

  constructor(readonly config: PublicConfig) {}

  get user(): string | null {
    return this.held?.user ?? null;
  }

  get signedIn(): boolean {
    return this.valid(this.held);
  }

  /** Called after each sign-in, refresh and sign-out. */
  onChange(f: () => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  /** A valid token, waiting for the user to sign in again if there is none. */
  async token(): Promise<string> {
    while (!this.valid(this.held)) {
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        this.onSignInNeeded(this.held ? 'Your session expired. Sign in again to continue.' : null);
      });
    }
    return (this.held as Held).token;
  }

  /**
   * The gateway refused `token` (401 or a WebSocket close): forget it and ask
   * again, unless a newer token is already held.
   */
  rejected(token: string | null): void {
    if (token !== null && this.held && this.held.token !== token) return;
    if (this.held) this.held.expiresAt = 0;
    this.expire('Your session expired. Sign in again to continue.');
  }

  signOut(): void {
    this.held = null;
    window.clearTimeout(this.timer);
    this.emit();
    this.onSignInNeeded(null);
  }

  /** Dev mode: `POST /v1/dev/token {"username"}` (loopback clients only). */
  async signInDev(username: string): Promise<void> {
    const res = await fetch('/v1/dev/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username }),
    });
    if (!res.ok) throw await errorFrom(res);
    const body = (await res.json()) as { token?: unknown; expiresIn?: unknown };
    if (typeof body.token !== 'string') throw new Error('the gateway sent no token');
    const expiresIn = typeof body.expiresIn === 'number' ? body.expiresIn : 3600;
    this.hold(body.token, expiresIn, null, username);
  }

  /** Cognito mode: go to the Hosted UI (authorization code with PKCE). */
  async beginCognito(): Promise<void> {
    const c = this.cognito();
    const verifier = randomString(64);
    const state = randomString(24);
    sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state }));
    const url = new URL('/oauth2/authorize', c.domain);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: c.clientId,
      redirect_uri: redirectUri(c),
      scope: c.scopes,
      state,
      code_challenge: await challenge(verifier),
      code_challenge_method: 'S256',
    }).toString();
    location.assign(url.toString());
  }

  /**
   * Cognito mode, on load: finish a Hosted UI redirect (`?code=&state=`) if
   * this is one. Returns false when there was nothing to finish.
   */
  async completeCognito(): Promise<boolean> {
    const params = new URLSearchParams(location.search);
    const code = params.get('code');
    const error = params.get('error');
    if (!code && !error) return false;
    history.replaceState(null, '', location.pathname);
    const saved = sessionStorage.getItem(PKCE_KEY);
    sessionStorage.removeItem(PKCE_KEY);
    if (error) throw new Error(params.get('error_description') ?? error);
    const pkce = saved ? (JSON.parse(saved) as { verifier: string; state: string }) : null;
    if (!pkce || pkce.state !== params.get('state')) {
      throw new Error('the sign-in answer does not match this browser tab; try again');
    }
    const c = this.cognito();
    await this.tokenRequest(c, {
      grant_type: 'authorization_code',
      client_id: c.clientId,
      code: code as string,
      redirect_uri: redirectUri(c),
      code_verifier: pkce.verifier,
    });
    return true;
  }

  private cognito(): CognitoConfig {
    const c = this.config.cognito;
    if (!c) throw new Error('this gateway has no Cognito Hosted UI configured (SPILLWAY_COGNITO_DOMAIN)');
    return c;
  }

  private async tokenRequest(c: CognitoConfig, form: Record<string, string>): Promise<void> {
    const res = await fetch(new URL('/oauth2/token', c.domain), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form),
    });
    const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (!res.ok) {
      const why = typeof body.error_description === 'string' ? body.error_description : body.error;
      throw new Error(`Cognito refused the sign-in: ${String(why ?? res.status)}`);
    }
    const token = c.tokenUse === 'id' ? body.id_token : body.access_token;
    if (typeof token !== 'string') throw new Error('Cognito sent no token');
    const refresh = typeof body.refresh_token === 'string' ? body.refresh_token : (this.held?.refreshToken ?? null);
    const idClaims = typeof body.id_token === 'string' ? claims(body.id_token) : claims(token);
    const user = String(idClaims.email ?? idClaims['cognito:username'] ?? idClaims.username ?? idClaims.sub ?? 'you');
    const expiresIn = typeof body.expires_in === 'number' ? body.expires_in : 3600;
    this.hold(token, expiresIn, refresh, user);
  }

  private hold(token: string, expiresIn: number, refreshToken: string | null, user: string): void {
    const exp = claims(token).exp;
    const fromBody = Date.now() + expiresIn * 1000;
    const expiresAt = typeof exp === 'number' ? Math.min(exp * 1000, fromBody) : fromBody;
    this.held = { token, user, expiresAt, refreshToken };
    this.schedule();
    this.emit();
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private schedule(): void {
    window.clearTimeout(this.timer);
    const held = this.held;
    if (!held) return;
    const left = held.expiresAt - Date.now();
    if (held.refreshToken && this.config.cognito) {
      const ahead = Math.min(REFRESH_AHEAD_MS, left / 2);
      this.timer = window.setTimeout(() => void this.refresh(), Math.max(0, left - ahead));
    } else {
      this.timer = window.setTimeout(
        () => this.expire('Your session expired. Sign in again to continue.'),
        Math.max(0, left - EXPIRY_MARGIN_MS),
      );
    }
  }

  private async refresh(): Promise<void> {
    const held = this.held;
    const c = this.config.cognito;
    if (!held?.refreshToken || !c) return;
    try {
      await this.tokenRequest(c, {
        grant_type: 'refresh_token',
        client_id: c.clientId,
        refresh_token: held.refreshToken,
      });
    } catch {
      this.expire('Your session expired. Sign in again to continue.');
    }
  }

  private expire(reason: string): void {
    window.clearTimeout(this.timer);
    this.emit();
    this.onSignInNeeded(reason);
  }

  private valid(h: Held | null): h is Held {
    return h !== null && h.expiresAt - Date.now() > EXPIRY_MARGIN_MS;
  }

  private emit(): void {
    for (const f of this.listeners) f();
  }
}

/** The claims of a JWT, unverified (only to read `exp` and a display name). */
export function claims(jwt: string): Record<string, unknown> {
  try {
    const part = jwt.split('.')[1] ?? '';
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, '=')), (ch) => ch.charCodeAt(0));
    const value: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function redirectUri(c: CognitoConfig): string {
  return c.redirectUri ?? `${location.origin}/`;
}

function base64url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString(bytes: number): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

async function challenge(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}
