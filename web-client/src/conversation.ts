// The conversation as request-shaped turns, so every request replays the
// earlier answers exactly (reasoning with its signature, tool calls and
// their results). A user turn joins the history together with its answer;
// one whose answer failed is re-sent by Retry, and tool results whose
// follow-up failed lead the next user turn (Bedrock wants them answered).

import type { ContentPart, ImagePart, StreamRequest, ToolResultPart, ToolSpec, Turn } from './types';

export class Conversation {
  private turns: Turn[] = [];
  /** The user turn being answered, or whose answer failed. */
  private pending: Turn | null = null;

  /** Start a new user turn from the composer. */
  ask(text: string, images: ImagePart[]): void {
    const left = this.pending ? toolResults(this.pending) : [];
    const parts: ContentPart[] = [...left, ...images];
    if (parts.length === 0) {
      this.pending = { role: 'user', content: text };
    } else {
      if (text) parts.push({ type: 'text', text });
      this.pending = { role: 'user', content: parts };
    }
  }

  /** The answer to the pending turn ended; `assistant` is what it said (null: nothing to keep). */
  answered(assistant: Turn | null): void {
    if (!this.pending || !assistant) return;
    this.turns.push(this.pending, assistant);
    this.pending = null;
  }

  /** The answer called tools: it joins the history, and their results are the next user turn. */
  toolsRan(assistant: Turn, results: ToolResultPart[]): void {
    this.answered(assistant);
    this.pending = { role: 'user', content: results };
  }

  /** Whether any turn carries tool calls or results (then `tools` must be sent). */
  get usesTools(): boolean {
    return [...this.turns, ...(this.pending ? [this.pending] : [])].some(
      (t) => typeof t.content !== 'string' && t.content.some((p) => p.type === 'toolCall' || p.type === 'toolResult'),
    );
  }

  /** The request for the pending turn: a text-only one rides in `prompt`, as before parts. */
  request(model: string | undefined, tools: ToolSpec[] | undefined): StreamRequest {
    const p = this.pending;
    const base = { model, ...(tools ? { tools } : {}) };
    if (p && typeof p.content === 'string') return { ...base, prompt: p.content, messages: [...this.turns] };
    return { ...base, messages: p ? [...this.turns, p] : [...this.turns] };
  }

  clear(): void {
    this.turns = [];
    this.pending = null;
  }
}

function toolResults(turn: Turn): ToolResultPart[] {
  return typeof turn.content === 'string' ? [] : turn.content.filter((p): p is ToolResultPart => p.type === 'toolResult');
}
