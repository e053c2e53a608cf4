// The shapes the gateway speaks (PRODUCT.md, "The event every transport carries").

export interface Usage {
  inputTokens: number;
  outputTokens: number;
}

export interface EventError {
  code: string;
  message: string;
  retryable?: boolean;
}

/** One entry of a session's log; the last one has `isComplete: true`. */
export interface TokenEvent {
  sessionId: string;
  seq: number;
  token: string;
  isComplete: boolean;
  timestamp?: string;
  stopReason?: string | null;
  usage?: Usage | null;
  error?: EventError | null;
}

export interface Turn {
  role: 'user' | 'assistant';
  content: string;
}

export interface StreamRequest {
  prompt: string;
  messages: Turn[];
  model?: string;
}

/** What the gateway tells an unauthenticated page: `GET /v1/config`. */
export interface PublicConfig {
  auth: 'dev' | 'cognito';
  cognito: CognitoConfig | null;
}

export interface CognitoConfig {
  /** Hosted UI base URL, e.g. `https://example.auth.us-east-1.amazoncognito.com`. */
  domain: string;
  clientId: string;
  /** Where the Hosted UI sends the browser back; null means this page's own URL. */
  redirectUri: string | null;
  scopes: string;
  /** Which Cognito token the gateway accepts: `id`, `access` or `any`. */
  tokenUse: 'id' | 'access' | 'any';
}

export function isTokenEvent(v: unknown): v is TokenEvent {
  const e = v as TokenEvent | null;
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof e.sessionId === 'string' &&
    typeof e.seq === 'number' &&
    typeof e.token === 'string' &&
    typeof e.isComplete === 'boolean'
  );
}
