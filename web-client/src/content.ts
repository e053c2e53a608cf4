// An answer's content blocks, assembled from its events in order (text
// deltas, reasoning, tool calls, citations, a guardrail note), and the same
// blocks as the request parts of the assistant turn that replays it.

import type { ContentPart, EventPart, TokenEvent, ToolCallPart, Turn } from './types';

export interface TextBlock {
  kind: 'text';
  text: string;
}

export interface ReasoningBlock {
  kind: 'reasoning';
  index: number;
  text: string;
  signature: string | null;
  redacted: string | null;
}

export interface ToolCallBlock {
  kind: 'toolCall';
  index: number;
  id: string;
  name: string;
  /** The input's JSON text as it streamed. */
  inputText: string;
  /** The whole parsed input, once the call's end event arrived. */
  input: unknown;
  complete: boolean;
}

export interface CitationBlock {
  kind: 'citation';
  index: number;
  title: string | null;
  source: string | null;
  text: string | null;
}

export interface GuardrailBlock {
  kind: 'guardrail';
  action: string;
}

export type Block = TextBlock | ReasoningBlock | ToolCallBlock | CitationBlock | GuardrailBlock;

export class AnswerContent {
  readonly blocks: Block[] = [];

  /** Apply one event (each once, in `seq` order); the block it changed, if any. */
  apply(ev: TokenEvent): Block | null {
    const part = ev.part;
    if (!part) return ev.token ? this.appendText(ev.token) : null;
    return this.applyPart(part);
  }

  /** Everything the answer said, in order. */
  get text(): string {
    return this.blocks.map((b) => (b.kind === 'text' ? b.text : '')).join('');
  }

  /** The tool calls whose input is complete. */
  toolCalls(): ToolCallPart[] {
    return this.blocks.flatMap((b) => (b.kind === 'toolCall' && b.complete ? [{ type: 'toolCall' as const, id: b.id, name: b.name, input: b.input }] : []));
  }

  /**
   * The assistant turn that replays this answer: text, reasoning exactly as
   * received (only finished blocks, with their signature), and the complete
   * tool calls when their results go in the next turn. Null when there is
   * nothing to replay. A text-only answer is a plain string.
   */
  toTurn(withToolCalls: boolean): Turn | null {
    const parts: ContentPart[] = [];
    for (const b of this.blocks) {
      if (b.kind === 'text' && b.text) parts.push({ type: 'text', text: b.text });
      else if (b.kind === 'reasoning' && b.redacted !== null) parts.push({ type: 'reasoning', redacted: b.redacted });
      else if (b.kind === 'reasoning' && b.signature !== null) parts.push({ type: 'reasoning', text: b.text, signature: b.signature });
      else if (b.kind === 'toolCall' && b.complete && withToolCalls) parts.push({ type: 'toolCall', id: b.id, name: b.name, input: b.input });
    }
    if (!parts.some((p) => (p.type === 'text' && p.text.trim()) || p.type === 'toolCall')) return null;
    if (parts.every((p) => p.type === 'text')) return { role: 'assistant', content: this.text };
    return { role: 'assistant', content: parts };
  }

  private appendText(token: string): TextBlock {
    const last = this.blocks.at(-1);
    if (last?.kind === 'text') {
      last.text += token;
      return last;
    }
    return this.push<TextBlock>({ kind: 'text', text: token });
  }

  private applyPart(part: EventPart): Block | null {
    switch (part.type) {
      case 'reasoning': {
        const b = this.find('reasoning', part.index) ?? this.push<ReasoningBlock>({ kind: 'reasoning', index: part.index, text: '', signature: null, redacted: null });
        if (typeof part.text === 'string') b.text += part.text;
        if (typeof part.signature === 'string') b.signature = part.signature;
        if (typeof part.redacted === 'string') b.redacted = part.redacted;
        return b;
      }
      case 'toolCall': {
        const b =
          this.find('toolCall', part.index) ??
          this.push<ToolCallBlock>({ kind: 'toolCall', index: part.index, id: '', name: '', inputText: '', input: undefined, complete: false });
        if (part.id) b.id = part.id;
        if (part.name) b.name = part.name;
        if (typeof part.inputDelta === 'string') b.inputText += part.inputDelta;
        if (part.input !== undefined && part.input !== null) {
          b.input = part.input;
          b.complete = true;
        }
        return b;
      }
      case 'citation':
        return this.push<CitationBlock>({
          kind: 'citation',
          index: part.index,
          title: part.title ?? null,
          source: part.source ?? null,
          text: part.text ?? null,
        });
      case 'guardrail':
        return this.push<GuardrailBlock>({ kind: 'guardrail', action: String(part.action ?? 'intervened') });
      default:
        return null; // a part this client does not know yet
    }
  }

  private find<K extends 'reasoning' | 'toolCall'>(kind: K, index: number): Extract<Block, { kind: K }> | undefined {
    return this.blocks.find((b): b is Extract<Block, { kind: K }> => b.kind === kind && (b as { index: number }).index === index);
  }

  private push<B extends Block>(b: B): B {
    this.blocks.push(b);
    return b;
  }
}
