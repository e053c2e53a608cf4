// Parts in GraphQL's shapes (schema/schema.graphql): `startStream` takes a
// turn's parts as `MessageInput.parts` and tools as `ToolInput`s, with JSON
// values (a tool call's input, a schema) as strings; `TokenEvent.part` has
// every member of every part, unset ones null, `input` and `trace` as JSON
// strings. These turn the client's shapes into those and back.

import type { ContentPart, EventPart, StreamRequest, TokenEvent } from '../types';

/** The `part` selection of the subscription. */
export const PART_FIELDS = 'part { type index text signature redacted id name inputDelta input title source action trace }';

const TOOL_CHOICE = { auto: 'AUTO', any: 'ANY', none: 'NONE' } as const;

/** `startStream`'s variables for `req`. */
export function startVariables(req: StreamRequest): Record<string, unknown> {
  const choice = req.toolChoice;
  return {
    // The last user turn rides in `messages` when it has parts; an empty prompt adds nothing.
    prompt: req.prompt ?? '',
    model: req.model ?? null,
    messages: req.messages.map((m) => {
      const role = m.role === 'user' ? 'USER' : 'ASSISTANT';
      return typeof m.content === 'string' ? { role, content: m.content } : { role, parts: m.content.map(partInput) };
    }),
    tools: req.tools?.map((t) => ({ name: t.name, description: t.description ?? null, inputSchema: JSON.stringify(t.inputSchema) })) ?? null,
    toolChoice: typeof choice === 'string' ? TOOL_CHOICE[choice] : null,
    toolName: typeof choice === 'object' ? choice.name : null,
    reasoningBudgetTokens: req.reasoning?.budgetTokens ?? null,
  };
}

/** A request part as a `PartInput`: the same fields, a tool call's input as JSON text. */
function partInput(p: ContentPart): Record<string, unknown> {
  return p.type === 'toolCall' ? { ...p, input: JSON.stringify(p.input) } : { ...p };
}

/** An event as the rest of the client expects it: `part` without nulls, JSON values parsed. */
export function normalize(ev: TokenEvent): TokenEvent {
  if (!ev.part) return ev;
  const part: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(ev.part)) if (v !== null) part[k] = k === 'input' || k === 'trace' ? parseJson(v) : v;
  return { ...ev, part: part as unknown as EventPart };
}

function parseJson(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}
