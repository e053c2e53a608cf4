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
  /** Text; `""` on events that carry a `part` and on the last. */
  token: string;
  isComplete: boolean;
  timestamp?: string;
  /** Set on reasoning, tool, citation and guardrail events. */
  part?: EventPart | null;
  stopReason?: string | null;
  usage?: Usage | null;
  error?: EventError | null;
}

// ---- parts of an answer, as events carry them (PRODUCT.md, "Conversations") ----

/** Reasoning: `text` deltas, then a `signature`; or one `redacted` block. */
export interface ReasoningEventPart {
  type: 'reasoning';
  index: number;
  text?: string;
  signature?: string;
  redacted?: string;
}

/** A tool call: start (`id`, `name`), `inputDelta`s, then end (`id`, `name`, `input`). */
export interface ToolCallEventPart {
  type: 'toolCall';
  index: number;
  id?: string;
  name?: string;
  inputDelta?: string;
  input?: unknown;
}

export interface CitationEventPart {
  type: 'citation';
  index: number;
  title?: string;
  source?: string;
  text?: string;
}

export interface GuardrailEventPart {
  type: 'guardrail';
  action: string;
  trace?: unknown;
}

export type EventPart = ReasoningEventPart | ToolCallEventPart | CitationEventPart | GuardrailEventPart;

// ---- parts of a request's messages ----

export type ImageMediaType = 'image/png' | 'image/jpeg' | 'image/gif' | 'image/webp';

export interface TextPart {
  type: 'text';
  text: string;
}

export interface ImagePart {
  type: 'image';
  mediaType: ImageMediaType;
  /** Base64, without a `data:` prefix. */
  data: string;
}

export interface DocumentPart {
  type: 'document';
  mediaType: string;
  name: string;
  data: string;
}

/** Assistant turns only, replayed exactly as received. */
export type ReasoningPart = { type: 'reasoning'; text: string; signature: string } | { type: 'reasoning'; redacted: string };

/** Assistant turns only. */
export interface ToolCallPart {
  type: 'toolCall';
  id: string;
  name: string;
  input: unknown;
}

/** User turns only: the answer to a `toolCall` of the turn before. */
export interface ToolResultPart {
  type: 'toolResult';
  toolCallId: string;
  content: string;
  isError?: boolean;
}

export type ContentPart = TextPart | ImagePart | DocumentPart | ReasoningPart | ToolCallPart | ToolResultPart;

export interface Turn {
  role: 'user' | 'assistant';
  content: string | ContentPart[];
}

/** A tool the model may call: `inputSchema` is a JSON Schema object. */
export interface ToolSpec {
  name: string;
  description?: string;
  inputSchema: Record<string, unknown>;
}

/**
 * `POST /v1/stream`'s body. `prompt`, when set, is the last user turn
 * (a text-only one); otherwise `messages` ends with the user turn.
 */
export interface StreamRequest {
  prompt?: string;
  messages: Turn[];
  model?: string;
  tools?: ToolSpec[];
  toolChoice?: 'auto' | 'any' | 'none' | { name: string };
  reasoning?: { budgetTokens: number };
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
