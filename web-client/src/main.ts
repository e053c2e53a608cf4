// Spillway's chat: sign in, pick a transport and a model, and stream answers.

import './styles.css';

import { AuthError, errorFrom } from './api';
import { Auth } from './auth';
import { $, el, show } from './dom';
import { Answer, modelLabel, userMessage, type Outcome } from './message';
import { StreamRun, type Phase } from './stream';
import { GraphqlTransport } from './transports/graphql';
import { SseTransport } from './transports/sse';
import type { Transport, TransportName } from './transports/transport';
import { WsTransport } from './transports/ws';
import type { PublicConfig, Turn } from './types';

const PREFS = { transport: 'spillway.transport', model: 'spillway.model', user: 'spillway.user' };

/** Prompts worth trying against the local simulator (its `[[sim …]]` directives pace the answer). */
const SIM_SUGGESTIONS: [string, string][] = [
  ['Tell me about rivers', 'Tell me about rivers and spillways.'],
  ['A long, slow answer', '[[sim tokens=300 rate=25]] Tell me a long story about a dam.'],
  ['A slow first token', '[[sim ttft_ms=1500 tokens=60]] Take a moment before answering.'],
  ['An error mid-answer', '[[sim error_after=12 rate=30]] Start, then fail.'],
];

const ui = {
  controls: $('controls'),
  account: $('account'),
  userName: $('user-name'),
  signOut: $<HTMLButtonElement>('sign-out'),
  newChat: $<HTMLButtonElement>('new-chat'),
  transport: $<HTMLSelectElement>('transport'),
  model: $<HTMLSelectElement>('model'),
  conversation: $('conversation'),
  empty: $('empty'),
  suggestions: $('suggestions'),
  composerWrap: $('composer-wrap'),
  composer: $<HTMLFormElement>('composer'),
  prompt: $<HTMLTextAreaElement>('prompt'),
  send: $<HTMLButtonElement>('send'),
  stop: $<HTMLButtonElement>('stop'),
  status: $('status'),
  statusDot: $('status-dot'),
  banner: $('banner'),
  signin: $<HTMLDialogElement>('signin'),
  signinForm: $<HTMLFormElement>('signin-form'),
  signinReason: $('signin-reason'),
  signinDev: $('signin-dev'),
  signinCognito: $('signin-cognito'),
  signinError: $('signin-error'),
  loginUser: $<HTMLInputElement>('login-user'),
  loginSubmit: $<HTMLButtonElement>('login-submit'),
};

interface Running {
  run: StreamRun;
  answer: Answer;
}

class App {
  private readonly transports: Record<TransportName, Transport>;
  private history: Turn[] = [];
  private running: Running | null = null;
  private modelsFor: string | null = null;
  private lastPrompt = '';

  constructor(
    private readonly config: PublicConfig,
    private readonly auth: Auth,
  ) {
    this.transports = { sse: new SseTransport(auth), ws: new WsTransport(auth), graphql: new GraphqlTransport(auth) };
    auth.onSignInNeeded = (reason) => this.showSignIn(reason);
    auth.onChange(() => this.onAuthChange());
    this.wire();
  }

  private wire(): void {
    const savedTransport = localStorage.getItem(PREFS.transport);
    if (savedTransport && [...ui.transport.options].some((o) => o.value === savedTransport)) {
      ui.transport.value = savedTransport;
    }
    ui.transport.addEventListener('change', () => localStorage.setItem(PREFS.transport, ui.transport.value));
    ui.model.addEventListener('change', () => localStorage.setItem(PREFS.model, ui.model.value));

    ui.composer.addEventListener('submit', (e) => {
      e.preventDefault();
      this.send();
    });
    ui.prompt.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.send();
      }
    });
    ui.prompt.addEventListener('input', () => this.autosize());
    ui.stop.addEventListener('click', () => this.stop());
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && this.running && !ui.signin.open) this.stop();
    });
    ui.newChat.addEventListener('click', () => this.clear());
    ui.signOut.addEventListener('click', () => {
      this.clear();
      for (const t of Object.values(this.transports)) t.close();
      this.auth.signOut();
    });

    ui.signinForm.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.signIn();
    });
    // The sign-in can't be dismissed while it is needed.
    ui.signin.addEventListener('cancel', (e) => e.preventDefault());

    if (this.config.auth === 'dev') {
      for (const [label, prompt] of SIM_SUGGESTIONS) {
        const b = el('button', { type: 'button', class: 'suggestion' }, label);
        b.title = prompt;
        b.addEventListener('click', () => {
          ui.prompt.value = prompt;
          this.autosize();
          ui.prompt.focus();
        });
        ui.suggestions.append(b);
      }
    }
  }

  // ---- sign-in ----

  showSignIn(reason: string | null): void {
    const dev = this.config.auth === 'dev';
    show(ui.signinDev, dev);
    show(ui.signinCognito, !dev);
    ui.loginUser.required = dev;
    ui.loginSubmit.textContent = dev ? 'Sign in' : 'Continue with Cognito';
    ui.signinReason.textContent = reason ?? '';
    show(ui.signinReason, reason !== null);
    if (!ui.loginUser.value) ui.loginUser.value = localStorage.getItem(PREFS.user) ?? '';
    if (!ui.signin.open) ui.signin.showModal();
    (dev ? ui.loginUser : ui.loginSubmit).focus();
    if (dev) ui.loginUser.select();
  }

  showSignInError(message: string): void {
    this.showSignIn(null);
    ui.signinError.textContent = message;
    show(ui.signinError, true);
  }

  private async signIn(): Promise<void> {
    show(ui.signinError, false);
    ui.loginSubmit.disabled = true;
    try {
      if (this.config.auth === 'dev') {
        const username = ui.loginUser.value.trim();
        if (!username) {
          ui.loginUser.focus();
          return;
        }
        if (this.auth.user !== null && this.auth.user !== username) this.clear();
        await this.auth.signInDev(username);
        localStorage.setItem(PREFS.user, username);
      } else {
        await this.auth.beginCognito();
      }
    } catch (e) {
      ui.signinError.textContent = e instanceof Error ? e.message : String(e);
      show(ui.signinError, true);
    } finally {
      ui.loginSubmit.disabled = false;
    }
  }

  private onAuthChange(): void {
    const signedIn = this.auth.signedIn;
    show(ui.controls, signedIn);
    show(ui.account, signedIn);
    show(ui.composerWrap, signedIn || this.history.length > 0 || this.running !== null);
    ui.userName.textContent = this.auth.user ?? '';
    if (!signedIn) return;
    if (ui.signin.open) ui.signin.close();
    show(ui.signinReason, false);
    show(ui.signinError, false);
    if (this.modelsFor !== this.auth.user) void this.loadModels();
    if (!this.running) ui.prompt.focus();
  }

  private async loadModels(): Promise<void> {
    this.modelsFor = this.auth.user;
    let token = '';
    try {
      token = await this.auth.token();
      const res = await fetch('/v1/models', { headers: { Authorization: `Bearer ${token}` } });
      if (!res.ok) throw await errorFrom(res, token);
      const body = (await res.json()) as { data?: { id?: unknown }[]; default?: unknown };
      const ids = (body.data ?? []).map((m) => m.id).filter((id): id is string => typeof id === 'string');
      const fallback = typeof body.default === 'string' ? body.default : ids[0];
      const saved = localStorage.getItem(PREFS.model);
      ui.model.replaceChildren(
        ...ids.map((id) => el('option', { value: id, title: id }, id === fallback ? `${modelLabel(id)} · default` : modelLabel(id))),
      );
      ui.model.value = saved && ids.includes(saved) ? saved : (fallback ?? '');
    } catch (e) {
      this.modelsFor = null;
      if (e instanceof AuthError) this.auth.rejected(e.token);
    }
  }

  // ---- chat ----

  private send(): void {
    const text = ui.prompt.value.trim();
    if (!text || this.running) return;
    ui.prompt.value = '';
    this.autosize();
    this.ask(text);
    ui.prompt.focus();
  }

  private ask(text: string): void {
    this.lastPrompt = text;
    const transportName = ui.transport.value as TransportName;
    const transport = this.transports[transportName] ?? this.transports.sse;
    const model = ui.model.value || undefined;
    show(ui.empty, false);
    ui.conversation.append(userMessage(text));

    const answer = new Answer(transport.name, model ?? null, {
      phase: (p) => this.setPhase(p),
      ended: (outcome, said) => this.ended(outcome, text, said),
      retry: () => {
        if (!this.running) this.ask(this.lastPrompt);
      },
      beforeGrow: () => this.pinToBottom(),
    });
    ui.conversation.append(answer.node);
    answer.node.scrollIntoView({ block: 'end' });

    const run = new StreamRun(transport, this.auth, { prompt: text, messages: [...this.history], model }, answer);
    this.running = { run, answer };
    this.setBusy(true);
    void run.run();
  }

  private ended(outcome: Outcome, prompt: string, said: string): void {
    if (said.trim()) this.history.push({ role: 'user', content: prompt }, { role: 'assistant', content: said });
    this.running = null;
    this.setBusy(false);
    this.setStatus(outcome, outcome);
    show(ui.banner, false);
  }

  private stop(): void {
    const r = this.running;
    if (!r) return;
    ui.stop.disabled = true;
    this.setStatus('stopping', 'busy');
    void r.run.stop();
  }

  private clear(): void {
    if (this.running) {
      void this.running.run.stop();
      this.running.run.detach();
      this.running.answer.detach();
      this.running = null;
    }
    this.history = [];
    for (const node of [...ui.conversation.querySelectorAll('.msg')]) node.remove();
    show(ui.empty, true);
    show(ui.banner, false);
    this.setBusy(false);
    this.setStatus('ready', 'idle');
    ui.prompt.focus();
  }

  private setPhase(p: Phase): void {
    const words: Record<Phase, string> = {
      connecting: 'connecting',
      streaming: 'streaming',
      reconnecting: 'reconnecting',
      signin: 'signed out',
    };
    this.setStatus(words[p], p === 'reconnecting' || p === 'signin' ? 'warn' : 'busy');
    if (p === 'reconnecting') {
      ui.banner.textContent = 'Connection lost. Resuming from the last token received…';
      show(ui.banner, true);
    } else if (p === 'streaming') {
      show(ui.banner, false);
    }
  }

  private setBusy(busy: boolean): void {
    const hadFocus = document.activeElement === ui.stop;
    show(ui.send, !busy);
    show(ui.stop, busy);
    ui.stop.disabled = !busy;
    ui.conversation.setAttribute('aria-busy', String(busy));
    if (hadFocus && !busy) ui.prompt.focus();
  }

  private setStatus(word: string, tone: string): void {
    ui.status.textContent = word;
    ui.statusDot.dataset.tone = tone;
  }

  /** Keep the view at the bottom while an answer grows, if it was there. */
  private pinToBottom(): () => void {
    const c = document.scrollingElement ?? document.documentElement;
    const atBottom = c.scrollHeight - c.scrollTop - c.clientHeight < 80;
    return () => {
      if (atBottom) c.scrollTop = c.scrollHeight;
    };
  }

  private autosize(): void {
    ui.prompt.style.height = 'auto';
    ui.prompt.style.height = `${Math.min(ui.prompt.scrollHeight, 200)}px`;
  }
}

async function loadConfig(): Promise<PublicConfig> {
  const res = await fetch('/v1/config', { cache: 'no-store' });
  if (!res.ok) throw await errorFrom(res);
  return (await res.json()) as PublicConfig;
}

async function boot(): Promise<void> {
  let config: PublicConfig;
  try {
    config = await loadConfig();
  } catch {
    ui.banner.textContent = 'Cannot reach the gateway. Reload the page to try again.';
    show(ui.banner, true);
    show(ui.composerWrap, true);
    return;
  }
  const auth = new Auth(config);
  const app = new App(config, auth);
  if (config.auth === 'cognito') {
    try {
      if (await auth.completeCognito()) return;
    } catch (e) {
      app.showSignInError(e instanceof Error ? e.message : String(e));
      return;
    }
  }
  app.showSignIn(null);
}

void boot();
