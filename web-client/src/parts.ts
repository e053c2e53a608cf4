// The non-text parts of an answer on screen: reasoning as a collapsible
// block above the text (open while it streams, folded once the answer
// starts, unless the reader opened or closed it), tool calls with their
// input and then their result, citations and a guardrail note below it.
// All text goes in through `textContent`.

import type { Block, CitationBlock, ReasoningBlock, ToolCallBlock } from './content';
import { el } from './dom';
import type { ToolResultPart } from './types';

export class PartsView {
  /** Goes above the answer's text. */
  readonly before = el('div', { class: 'parts before', hidden: true });
  /** Goes below the answer's text. */
  readonly after = el('div', { class: 'parts after', hidden: true });
  private readonly reasoning = new Map<ReasoningBlock, ReasoningView>();
  private readonly tools = new Map<string, ToolCallView>();
  private readonly toolViews = new Map<ToolCallBlock, ToolCallView>();
  private citations: HTMLOListElement | null = null;

  /** Show `block` as it is now (creating its view on first sight). */
  render(block: Block): void {
    switch (block.kind) {
      case 'reasoning': {
        let view = this.reasoning.get(block);
        if (!view) {
          view = new ReasoningView();
          this.reasoning.set(block, view);
          this.add(this.before, view.node);
        }
        view.update(block);
        break;
      }
      case 'toolCall': {
        let view = this.toolViews.get(block);
        if (!view) {
          view = new ToolCallView();
          this.toolViews.set(block, view);
          this.add(this.after, view.node);
        }
        view.update(block);
        if (block.id) this.tools.set(block.id, view);
        break;
      }
      case 'citation':
        this.citation(block);
        break;
      case 'guardrail':
        this.add(this.after, el('p', { class: 'guardrail-note', 'data-testid': 'guardrail' }, `Guardrail: ${block.action.replace(/_/g, ' ')}`));
        break;
      case 'text':
        break;
    }
  }

  /** The answer's text (or a tool call) began: fold the reasoning away. */
  reasoningDone(): void {
    for (const view of this.reasoning.values()) view.fold();
  }

  /** The answer ended. */
  end(): void {
    this.reasoningDone();
    for (const view of this.reasoning.values()) view.finish();
  }

  /** Show what running tool call `id` gave back. */
  toolResult(result: ToolResultPart): void {
    this.tools.get(result.toolCallId)?.result(result);
  }

  /** The calls still waiting for a result will not get one. */
  toolsNotRun(reason: string): void {
    for (const view of this.toolViews.values()) view.notRun(reason);
  }

  private citation(block: CitationBlock): void {
    if (!this.citations) {
      this.citations = el('ol', { class: 'citations', 'data-testid': 'citations' });
      this.add(this.after, el('section', { class: 'citations-wrap' }, el('h4', {}, 'Sources'), this.citations));
    }
    const label = block.title || block.source || `Source ${this.citations.children.length + 1}`;
    const href = block.source && /^https?:\/\//i.test(block.source) ? block.source : null;
    const head = href ? el('a', { href, target: '_blank', rel: 'noopener noreferrer nofollow' }, label) : el('strong', {}, label);
    const item = el('li', {}, head);
    if (block.text) item.append(el('blockquote', {}, block.text));
    this.citations.append(item);
  }

  private add(where: HTMLElement, node: HTMLElement): void {
    where.append(node);
    where.hidden = false;
  }
}

class ReasoningView {
  readonly node: HTMLDetailsElement;
  private readonly summary: HTMLElement;
  private readonly body: HTMLElement;
  /** The reader opened or closed it: leave it as they want it. */
  private touched = false;
  private done = false;

  constructor() {
    this.summary = el('summary', {}, 'Thinking…');
    this.body = el('div', { class: 'reasoning-text', 'data-testid': 'reasoning-text' });
    this.node = el('details', { class: 'reasoning streaming', 'data-testid': 'reasoning', open: true }, this.summary, this.body);
    this.summary.addEventListener('click', () => (this.touched = true));
  }

  update(b: ReasoningBlock): void {
    if (b.redacted !== null) {
      this.body.textContent = 'The model’s reasoning is encrypted; it is sent back with the conversation as it came.';
      this.node.classList.add('redacted');
      this.finish();
      return;
    }
    this.body.textContent = b.text;
    if (b.signature !== null) this.finish();
  }

  fold(): void {
    if (!this.touched) this.node.open = false;
  }

  finish(): void {
    if (this.done) return;
    this.done = true;
    this.node.classList.remove('streaming');
    this.summary.textContent = this.node.classList.contains('redacted') ? 'Reasoning (redacted)' : 'Reasoning';
  }
}

class ToolCallView {
  readonly node: HTMLElement;
  private readonly name: HTMLElement;
  private readonly state: HTMLElement;
  private readonly input: HTMLElement;
  private readonly output: HTMLElement;

  constructor() {
    this.name = el('code', { class: 'tool-name', 'data-testid': 'tool-name' });
    this.state = el('span', { class: 'chip tool-state' }, 'calling');
    this.input = el('pre', { class: 'tool-input', 'data-testid': 'tool-input' });
    this.output = el('div', { class: 'tool-result', 'data-testid': 'tool-result', hidden: true });
    this.node = el(
      'section',
      { class: 'tool-call', 'data-testid': 'tool-call', 'data-state': 'calling' },
      el('header', {}, el('span', { class: 'tool-icon', 'aria-hidden': 'true' }, '⚙'), this.name, this.state),
      this.input,
      this.output,
    );
  }

  update(b: ToolCallBlock): void {
    this.name.textContent = b.name || 'tool';
    this.node.dataset.toolName = b.name;
    if (b.complete) {
      this.input.textContent = JSON.stringify(b.input, null, 2);
      this.setState('called', 'waiting for result');
    } else {
      this.input.textContent = b.inputText;
    }
  }

  result(r: ToolResultPart): void {
    this.output.replaceChildren(el('span', { class: 'tool-result-label' }, r.isError ? 'Error' : 'Result'), el('pre', {}, r.content));
    this.output.hidden = false;
    this.output.classList.toggle('error', r.isError === true);
    this.setState(r.isError ? 'error' : 'done', r.isError ? 'failed' : 'ran');
  }

  notRun(reason: string): void {
    if (this.node.dataset.state === 'done' || this.node.dataset.state === 'error') return;
    this.setState('skipped', reason);
  }

  private setState(state: string, label: string): void {
    this.node.dataset.state = state;
    this.state.textContent = label;
  }
}
