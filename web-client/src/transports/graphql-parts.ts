// What the GraphQL API carries of a conversation's parts. Events: the
// subscription selects `TokenEvent.part` with the fields the served schema
// gives it (read once by introspection, so a gateway without parts still
// works); `input` arrives as a JSON string. Requests: `MessageInput.content`
// is text, so a conversation with images or tool calls goes over SSE or
// WebSocket instead, and replayed reasoning is left out.

import { ServerError } from '../api';
import type { EventPart, StreamRequest, TokenEvent } from '../types';

export const PART_TYPE_QUERY = `query PartType {
  __type(name: "TokenEvent") { fields { name type { kind name ofType { kind name ofType { kind name } } } } }
}`;

export const PART_FIELDS_QUERY = `query PartFields($name: String!) {
  __type(name: $name) { fields { name type { kind name ofType { kind name ofType { kind name } } } } }
}`;

interface TypeRef {
  kind: string;
  name: string | null;
  ofType?: TypeRef | null;
}

export interface TypeInfo {
  __type: { fields: { name: string; type: TypeRef }[] | null } | null;
}

/** The named type under any list and non-null wrappers. */
function base(t: TypeRef): TypeRef {
  let cur = t;
  while (cur.ofType && (cur.kind === 'NON_NULL' || cur.kind === 'LIST')) cur = cur.ofType;
  return cur;
}

/** The object type of `TokenEvent.part`, if the schema has one. */
export function partTypeName(info: TypeInfo): string | null {
  const field = info.__type?.fields?.find((f) => f.name === 'part');
  if (!field) return null;
  const t = base(field.type);
  return t.kind === 'OBJECT' && t.name ? t.name : null;
}

/** The selection ` part { type index … }` for the part type's scalar fields. */
export function partSelection(info: TypeInfo): string {
  const names = (info.__type?.fields ?? []).filter((f) => ['SCALAR', 'ENUM'].includes(base(f.type).kind)).map((f) => f.name);
  return names.length ? ` part { ${names.join(' ')} }` : '';
}

/** An event as the rest of the client expects it: `part` without nulls, `input` parsed. */
export function normalize(ev: TokenEvent): TokenEvent {
  if (!ev.part) return ev;
  const part: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(ev.part)) if (v !== null) part[k] = v;
  if (typeof part.input === 'string') {
    try {
      part.input = JSON.parse(part.input);
    } catch {
      // Leave it as the text it is.
    }
  }
  return { ...ev, part: part as unknown as EventPart };
}

/** `startStream`'s variables for `req`, or a clear refusal when it is more than text. */
export function textRequest(req: StreamRequest): { prompt: string; messages: { role: string; content: string }[] } {
  const refuse = () =>
    new ServerError('unsupported', 'GraphQL carries text only: for images and the demo tool, pick SSE or WebSocket (or turn the tool off)');
  if (req.prompt === undefined || req.tools?.length) throw refuse();
  const messages = req.messages.map((m) => {
    let content: string;
    if (typeof m.content === 'string') {
      content = m.content;
    } else {
      if (m.content.some((p) => p.type !== 'text' && p.type !== 'reasoning')) throw refuse();
      content = m.content.flatMap((p) => (p.type === 'text' ? [p.text] : [])).join('\n\n');
    }
    return { role: m.role === 'user' ? 'USER' : 'ASSISTANT', content };
  });
  return { prompt: req.prompt, messages };
}
