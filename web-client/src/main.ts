// Spillway's chat: sign in, pick a transport and a model, and stream answers.

import './styles.css';

import { AuthError, errorFrom } from './api';
import { Attachments } from './attachments';
import { Auth } from './auth';
import { Chat } from './chat';
import { $, el, show } from './dom';
import { modelLabel, type Outcome } from './message';
import type { Phase } from './stream';
import { GraphqlTransport } from './transports/graphql';
import { SseTransport } from './transports/sse';
import type { Transport, TransportName } from './transports/transport';
import { WsTransport } from './transports/ws';
import type { PublicConfig } from './types';

const PREFS = { transport: 'spillway.transport', model: 'spillway.model', user: 'spillway.user', tools: 'spillway.tools' };

/** Prompts worth trying against the local simulator (its `[[sim …]]` directives pace the answer). */
const SIM_SUGGESTIONS: [string, string][] = [
  ['Tell me about rivers', 'Tell me about rivers and spillways.'],
  ['A long, slow answer', '[[sim tokens=300 rate=25]] Tell me a long story about a dam.'],
  ['A slow first token', '[[sim ttft_ms=1500 tokens=60]] Take a moment before answering.'],
  ['An error mid-answer', '[[sim error_after=12 rate=30]] Start, then fail.'],
  ['Think first', '[[sim think=8 tokens=40]] Think it over, then answer.'],
  ['Roll a die with the demo tool', '[[sim tool=roll_dice]] Roll a die for me.'],
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
  attach: $<HTMLButtonElement>('attach'),
  attachInput: $<HTMLInputElement>('attach-input'),
  attachments: $('attachments'),
  attachError: $('attach-error'),
  tools: $<HTMLInputElement>('tools-toggle'),
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

class App {
  private readonly transports: Record<TransportName, Transport>;
  private readonly chat: Chat;
  private readonly attachments: Attachments;
  private modelsFor: string | null = null;
  /** Anything on screen to keep the composer for. */
  private started = false;

  constructor(
    private readonly config: PublicConfig,
    private readonly auth: Auth,
  ) {
    this.transports = { sse: new SseTransport(auth), ws: new WsTransport(auth), graphql: new GraphqlTransport(auth) };
    this.chat = new Chat(auth, {
      log: ui.conversation,
      transport: () => this.transports[ui.transport.value as TransportName] ?? this.transports.sse,
      model: () => ui.model.value || undefined,
      toolsEnabled: () => ui.tools.checked,
      phase: (p) => this.setPhase(p),
      busy: (b) => this.setBusy(b),
      ended: (outcome) => this.ended(outcome),
      pinToBottom: () => this.pinToBottom(),
    });
    this.attachments = new Attachments({
      list: ui.attachments,
      button: ui.attach,
      input: ui.attachInput,
      prompt: ui.prompt,
      dropZone: ui.composer,
      error: ui.attachError,
    });
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
    ui.tools.checked = localStorage.getItem(PREFS.tools) === 'on';
    ui.tools.addEventListener('change', () => localStorage.setItem(PREFS.tools, ui.tools.checked ? 'on' : 'off'));

    ui.composer.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.send();
    });
    ui.prompt.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        void this.send();
      }
    });
    ui.prompt.addEventListener('input', () => this.autosize());
    ui.stop.addEventListener('click', () => this.stop());
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && this.chat.busy && !ui.signin.open) this.stop();
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
          if (prompt.includes('tool=roll_dice') && !ui.tools.checked) {
            ui.tools.checked = true;
            ui.tools.dispatchEvent(new Event('change'));
          }
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
    show(ui.composerWrap, signedIn || this.started || this.chat.busy);
    ui.userName.textContent = this.auth.user ?? '';
    if (!signedIn) return;
    if (ui.signin.open) ui.signin.close();
    show(ui.signinReason, false);
    show(ui.signinError, false);
    if (this.modelsFor !== this.auth.user) void this.loadModels();
    if (!this.chat.busy) ui.prompt.focus();
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

  private async send(): Promise<void> {
    if (this.chat.busy) return;
    const text = ui.prompt.value.trim();
    if (!text && this.attachments.count === 0) return;
    ui.prompt.value = '';
    this.autosize();
    const images = await this.attachments.take();
    if (!text && images.length === 0) return;
    show(ui.empty, false);
    this.started = true;
    this.chat.send(text, images);
    ui.prompt.focus();
  }

  private ended(outcome: Outcome): void {
    this.setStatus(outcome, outcome);
    show(ui.banner, false);
  }

  private stop(): void {
    if (!this.chat.busy) return;
    ui.stop.disabled = true;
    this.setStatus('stopping', 'busy');
    this.chat.stop();
  }

  private clear(): void {
    this.chat.clear();
    this.attachments.clear();
    this.started = false;
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
