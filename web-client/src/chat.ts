// The chat: one answer streaming at a time, the conversation it extends, and
// the demo tool loop — an answer that stops for `tool_use` has its calls run
// here, their results shown, and the follow-up streamed at once.

import type { Auth } from './auth';
import { Conversation } from './conversation';
import { Answer, userMessage, type Outcome } from './message';
import { StreamRun, type Phase } from './stream';
import { DEMO_TOOLS, runTool } from './tools';
import type { Transport } from './transports/transport';
import type { ImagePart } from './types';

/** Tool rounds one message may set off before the chat stops running tools. */
const MAX_TOOL_ROUNDS = 5;

/** What the chat needs from the page around it. */
export interface ChatHost {
  /** Where messages go. */
  log: HTMLElement;
  transport(): Transport;
  model(): string | undefined;
  toolsEnabled(): boolean;
  phase(p: Phase): void;
  busy(busy: boolean): void;
  /** No answer runs any more. */
  ended(outcome: Outcome): void;
  /** Before content grows: returns what keeps the view at the bottom. */
  pinToBottom(): () => void;
}

interface Running {
  run: StreamRun;
  answer: Answer;
}

export class Chat {
  private readonly conversation = new Conversation();
  private running: Running | null = null;
  private toolRounds = 0;

  constructor(
    private readonly auth: Auth,
    private readonly host: ChatHost,
  ) {}

  get busy(): boolean {
    return this.running !== null;
  }

  /** Send a message from the composer. */
  send(text: string, images: ImagePart[]): void {
    if (this.running) return;
    this.conversation.ask(text, images);
    this.toolRounds = 0;
    this.host.log.append(userMessage(text, images));
    this.start();
  }

  stop(): void {
    void this.running?.run.stop();
  }

  /** Forget the conversation (a new chat, a sign-out). */
  clear(): void {
    if (this.running) {
      void this.running.run.stop();
      this.running.run.detach();
      this.running.answer.detach();
      this.running = null;
    }
    this.conversation.clear();
    for (const node of [...this.host.log.querySelectorAll('.msg')]) node.remove();
  }

  /** Stream an answer to the conversation's pending turn. */
  private start(): void {
    const transport = this.host.transport();
    const model = this.host.model();
    const answer = new Answer(transport.name, model ?? null, {
      phase: (p) => this.host.phase(p),
      ended: (outcome, a) => this.ended(outcome, a),
      retry: () => {
        if (!this.running) this.start();
      },
      beforeGrow: () => this.host.pinToBottom(),
    });
    this.host.log.append(answer.node);
    answer.node.scrollIntoView({ block: 'end' });

    const tools = this.host.toolsEnabled() || this.conversation.usesTools ? DEMO_TOOLS : undefined;
    const run = new StreamRun(transport, this.auth, this.conversation.request(model, tools), answer);
    this.running = { run, answer };
    this.host.busy(true);
    void run.run();
  }

  private ended(outcome: Outcome, answer: Answer): void {
    if (this.running?.answer !== answer) return; // a cleared chat's answer
    this.running = null;
    const calls = answer.content.toolCalls();
    if (outcome === 'done' && answer.stopReason === 'tool_use' && calls.length > 0) {
      if (this.toolRounds < MAX_TOOL_ROUNDS) {
        this.toolRounds += 1;
        const turn = answer.content.toTurn(true);
        const results = calls.map((call) => runTool(call));
        for (const r of results) answer.toolResult(r);
        if (turn) {
          this.conversation.toolsRan(turn, results);
          this.start();
          return;
        }
      }
      answer.toolsNotRun(`not run: more than ${MAX_TOOL_ROUNDS} rounds`);
    } else if (calls.length > 0) {
      answer.toolsNotRun('not run');
    }
    this.conversation.answered(answer.content.toTurn(false));
    this.host.busy(false);
    this.host.ended(outcome);
  }
}
