// The conversation's messages: a user bubble (with its images), and an
// assistant answer that renders Markdown as tokens arrive, its other parts
// (reasoning, tool calls, citations) beside the text, and shows time to
// first token, tokens/s, resumes and errors.

import { thumbnail } from './attachments';
import { AnswerContent, type Block } from './content';
import { el } from './dom';
import { renderMarkdown } from './markdown';
import { PartsView } from './parts';
import type { Phase, StreamView } from './stream';
import type { EventError, ImagePart, TokenEvent, ToolResultPart } from './types';

export type Outcome = 'done' | 'stopped' | 'error';

export interface AnswerHooks {
  phase(p: Phase): void;
  /** The answer ended; `answer.content` is all it said. */
  ended(outcome: Outcome, answer: Answer): void;
  retry(): void;
  /** Called before the answer's content grows, to keep the view pinned to the bottom. */
  beforeGrow(): () => void;
}

const TRANSPORT_LABEL: Record<string, string> = { sse: 'SSE', ws: 'WebSocket', graphql: 'GraphQL' };

export function userMessage(text: string, images: ImagePart[] = []): HTMLElement {
  const pictures = images.length ? el('div', { class: 'thumbs' }, ...images.map((p) => thumbnail(p))) : null;
  return el('article', { class: 'msg user', 'aria-label': 'You' }, el('div', { class: 'bubble' }, pictures, text || null));
}

export class Answer implements StreamView {
  readonly node: HTMLElement;
  private readonly body: HTMLElement;
  private readonly notice: HTMLElement;
  private readonly meta: HTMLElement;
  private readonly stats: HTMLElement;
  private readonly badge: HTMLElement;
  private readonly parts = new PartsView();
  /** Everything the answer said, by content block. */
  readonly content = new AnswerContent();
  /** Blocks changed since the last render. */
  private readonly dirty = new Set<Block>();
  /** The final event's `stopReason`. */
  stopReason: string | null = null;
  private frame = 0;
  private readonly sentAt = performance.now();
  private firstAt: number | null = null;
  private firstTextAt: number | null = null;
  private lastAt: number | null = null;
  private tokens = 0;
  private resumes = 0;
  private model: string | null;

  constructor(
    transport: string,
    model: string | null,
    private readonly hooks: AnswerHooks,
  ) {
    this.model = model;
    this.body = el('div', { class: 'md', 'data-testid': 'output' });
    this.notice = el('div', { class: 'notice', hidden: true });
    this.badge = el('span', { class: 'chip state' }, 'connecting');
    this.stats = el('span', { class: 'stats' });
    this.meta = el('footer', { class: 'meta' }, el('span', { class: 'chip' }, TRANSPORT_LABEL[transport] ?? transport), this.badge, this.stats);
    this.node = el(
      'article',
      { class: 'msg assistant streaming', 'aria-label': 'Answer', 'aria-busy': 'true', 'data-transport': transport },
      el('div', { class: 'bubble' }, this.parts.before, this.body, this.parts.after, this.notice, this.meta),
    );
    this.renderStats();
  }

  phase(p: Phase): void {
    this.hooks.phase(p);
    this.badge.textContent = p === 'signin' ? 'waiting for sign-in' : p;
    this.node.dataset.phase = p;
  }

  session(sessionId: string, model: string | null): void {
    this.node.dataset.sessionId = sessionId;
    if (model) this.model = model;
    this.renderStats();
  }

  token(ev: TokenEvent): void {
    const block = this.content.apply(ev);
    if (!block) return;
    const now = performance.now();
    this.firstAt ??= now;
    if (block.kind === 'text') {
      this.firstTextAt ??= now;
      this.lastAt = now;
      this.tokens += 1;
    }
    if (block.kind === 'text' || block.kind === 'toolCall') this.parts.reasoningDone();
    this.dirty.add(block);
    this.schedule();
  }

  /** Show the result of one of this answer's tool calls. */
  toolResult(result: ToolResultPart): void {
    const pin = this.hooks.beforeGrow();
    this.parts.toolResult(result);
    pin();
  }

  /** This answer's tool calls will not be run. */
  toolsNotRun(reason: string): void {
    this.parts.toolsNotRun(reason);
  }

  resumed(count: number): void {
    this.resumes = count;
    this.node.dataset.resumes = String(count);
    this.renderStats();
  }

  final(ev: TokenEvent): void {
    this.stopReason = ev.stopReason ?? null;
    if (ev.error) {
      this.end('error');
      this.showError(ev.error, this.content.blocks.length > 0 ? 'The answer broke off' : null);
    } else if (ev.stopReason === 'cancelled') {
      this.end('stopped');
    } else {
      this.end('done', ev.stopReason);
    }
    if (ev.usage) this.stats.title = `${ev.usage.inputTokens} input tokens, ${ev.usage.outputTokens} output tokens`;
  }

  failed(err: EventError & { retryAfter?: number | null }): void {
    this.end('error');
    this.showError(err, null);
  }

  /** No longer updated (a new chat): drop pending renders. */
  detach(): void {
    cancelAnimationFrame(this.frame);
  }

  private end(outcome: Outcome, stopReason?: string | null): void {
    this.flush();
    this.parts.end();
    this.node.classList.remove('streaming');
    this.node.classList.add(outcome);
    this.node.removeAttribute('aria-busy');
    this.node.dataset.outcome = outcome;
    const label: Record<Outcome, string> = { done: 'done', stopped: 'stopped', error: 'error' };
    this.badge.textContent = label[outcome];
    if (outcome === 'done' && stopReason && stopReason !== 'end_turn' && stopReason !== 'stop') {
      this.badge.textContent = `done · ${stopReason.replace(/_/g, ' ')}`;
    }
    this.renderStats();
    this.hooks.ended(outcome, this);
  }

  private showError(err: EventError & { retryAfter?: number | null }, lead: string | null): void {
    const retry = err.retryable
      ? el('button', { type: 'button', class: 'ghost small' }, 'Retry')
      : null;
    retry?.addEventListener('click', () => this.hooks.retry());
    this.notice.replaceChildren(el('strong', {}, lead ? `${lead}: ` : 'Error: '), `${err.message} `, el('code', {}, err.code));
    if (retry) this.notice.append(' ', retry);
    this.notice.hidden = false;
    this.notice.className = 'notice error';
    this.notice.setAttribute('role', 'alert');
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.flush();
    });
  }

  private flush(): void {
    if (this.frame) {
      cancelAnimationFrame(this.frame);
      this.frame = 0;
    }
    const pin = this.hooks.beforeGrow();
    let text = false;
    for (const block of this.dirty) {
      if (block.kind === 'text') text = true;
      else this.parts.render(block);
    }
    this.dirty.clear();
    if (text) {
      this.body.innerHTML = renderMarkdown(this.content.text);
      for (const pre of this.body.querySelectorAll('pre')) addCopyButton(pre);
    }
    this.renderStats();
    pin();
  }

  private renderStats(): void {
    const parts: string[] = [];
    if (this.model) parts.push(modelLabel(this.model));
    if (this.firstAt !== null) parts.push(`TTFT ${Math.round(this.firstAt - this.sentAt)} ms`);
    // A rate over less than 100 ms (an answer that arrived in one burst) means nothing.
    const from = this.firstTextAt;
    if (from !== null && this.lastAt !== null && this.tokens > 1 && this.lastAt - from >= 100) {
      const rate = (this.tokens - 1) / ((this.lastAt - from) / 1000);
      parts.push(`${rate >= 100 ? Math.round(rate) : rate.toFixed(1)} tok/s`);
    }
    if (this.tokens > 0) parts.push(`${this.tokens} tokens`);
    if (this.resumes > 0) parts.push(`resumed ×${this.resumes}`);
    this.stats.textContent = parts.join(' · ');
    if (this.model) this.stats.dataset.model = this.model;
  }
}

/**
 * A readable name for a Bedrock model id:
 * `global.anthropic.claude-haiku-4-5-20251001-v1:0` → `claude-haiku-4-5 (global)`.
 */
export function modelLabel(id: string): string {
  const parts = id.split('.');
  const prefix = parts.length >= 3 && /^(global|us|eu|apac|us-gov|jp|au|ca)$/.test(parts[0] ?? '') ? parts.shift() : null;
  if (parts.length >= 2) parts.shift(); // the provider
  const name = parts.join('.').replace(/-\d{8}(?=-|$)/, '').replace(/-v\d+(:\d+)?$/, '').replace(/:\d+$/, '');
  return prefix ? `${name} (${prefix})` : name || id;
}

function addCopyButton(pre: HTMLElement): void {
  const button = el('button', { type: 'button', class: 'copy', 'aria-label': 'Copy code' }, 'Copy');
  button.addEventListener('click', () => {
    const code = pre.querySelector('code')?.textContent ?? pre.textContent ?? '';
    void navigator.clipboard?.writeText(code).then(
      () => {
        button.textContent = 'Copied';
        window.setTimeout(() => (button.textContent = 'Copy'), 1500);
      },
      () => {},
    );
  });
  pre.append(button);
}
