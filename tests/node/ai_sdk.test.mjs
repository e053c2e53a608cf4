// The Vercel AI SDK's own transports and reader against the gateway:
// `DefaultChatTransport` (POST /v1/ai-sdk/chat, resume GET), the
// `WebSocketChatTransport` over the `ws` package (GET /v1/ai-sdk/ws), and
// `readUIMessageStream` to turn their chunks into UI messages; tools,
// reasoning and files on both transports.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  AbstractChat,
  DefaultChatTransport,
  WebSocketChatTransport,
  lastAssistantMessageIsCompleteWithToolCalls,
  readUIMessageStream,
} from 'ai';
import WebSocket from 'ws';

import { CLAUDE, THINKING, eventually, prompt, startGateway, userMessage, within } from './gateway.mjs';
import { pngDataUrl } from './png.mjs';

let gw;

before(async () => {
  // A long cancel grace: a reader that drops leaves its stream running (so it
  // can be resumed), and only an explicit abort stops the upstream at once.
  gw = await startGateway({ SPILLWAY_CANCEL_GRACE_SECS: '60', SPILLWAY_DRAIN_SECS: '1' });
});

after(async () => {
  await gw?.stop();
});

const textOf = message => message.parts.filter(p => p.type === 'text').map(p => p.text).join('');

/** The last UI message of a chunk stream (every snapshot until the end). */
async function finalMessage(stream, options = {}) {
  let last;
  for await (const message of readUIMessageStream({ stream, ...options })) last = message;
  return last;
}

/** Read chunks until `count` text deltas have arrived; returns them all. */
async function readDeltas(reader, count) {
  const chunks = [];
  while (chunks.filter(c => c.type === 'text-delta').length < count) {
    const { value, done } = await within(reader.read(), 10_000, 'a chunk');
    assert.ok(!done, 'the stream ended early');
    chunks.push(value);
  }
  return chunks;
}

function httpTransport(headersSeen = []) {
  return new DefaultChatTransport({
    api: `${gw.url}/v1/ai-sdk/chat`,
    headers: gw.auth,
    body: { model: CLAUDE },
    fetch: async (url, init) => {
      const res = await fetch(url, init);
      headersSeen.push(res.headers);
      return res;
    },
  });
}

function wsTransport() {
  return new WebSocketChatTransport({
    url: `${gw.url}/v1/ai-sdk/ws`,
    protocols: ['spillway.v1', `bearer.${gw.token}`],
    webSocket: WebSocket,
    body: { model: CLAUDE },
  });
}

function send(transport, chatId, text, abortSignal) {
  return transport.sendMessages({
    chatId,
    messages: [userMessage(text)],
    trigger: 'submit-message',
    messageId: undefined,
    abortSignal,
  });
}

describe('DefaultChatTransport over HTTP', () => {
  it('streams a UI message that matches the session', async () => {
    const headers = [];
    const stream = await send(httpTransport(headers), `chat-${crypto.randomUUID()}`, prompt('tokens=10 rate=0 ttft_ms=0'));
    const message = await within(finalMessage(stream));
    assert.equal(headers[0].get('x-vercel-ai-ui-message-stream'), 'v1');
    assert.match(headers[0].get('content-type'), /^text\/event-stream/);
    const sessionId = headers[0].get('x-session-id');
    assert.equal(message.id, sessionId, 'the assistant message id is the session id');
    assert.equal(message.role, 'assistant');
    const info = await gw.session(sessionId);
    assert.equal(info.status, 'complete');
    assert.equal(textOf(message), info.text);
    assert.deepEqual(message.parts.map(p => p.type), ['step-start', 'text']);
    assert.equal(message.parts[1].state, 'done');
  });

  it('resumes the chat after the reader drops, then has nothing active', async () => {
    const before = await gw.simStats();
    const transport = httpTransport();
    const chatId = `chat-${crypto.randomUUID()}`;
    const abort = new AbortController();
    const stream = await send(transport, chatId, prompt('tokens=40 rate=20 ttft_ms=0'), abort.signal);
    const reader = stream.getReader();
    const first = await readDeltas(reader, 3);
    const sessionId = first.find(c => c.type === 'start').messageId;
    abort.abort();

    const resumed = await transport.reconnectToStream({ chatId });
    assert.ok(resumed, 'the chat has an active stream');
    const message = await within(finalMessage(resumed));
    assert.equal(message.id, sessionId);
    const info = await gw.session(sessionId);
    assert.equal(info.status, 'complete');
    assert.equal(textOf(message), info.text, 'the replay holds every token');

    assert.equal(await transport.reconnectToStream({ chatId }), null, 'a finished chat answers 204');
    const after = await gw.simStats();
    assert.equal(after.streamsCancelled, before.streamsCancelled, 'the upstream was never cancelled');
  });

  it('renders an upstream failure as an error chunk the reader raises', async () => {
    const stream = await send(httpTransport(), `chat-${crypto.randomUUID()}`, prompt('tokens=20 error_after=3 rate=0 ttft_ms=0'));
    await assert.rejects(within(finalMessage(stream, { terminateOnError: true })), /model_stream_error/);
  });

  it('refuses a bad request with a status the transport raises', async () => {
    const transport = new DefaultChatTransport({
      api: `${gw.url}/v1/ai-sdk/chat`,
      headers: gw.auth,
      body: { model: 'acme.nope-v1' },
    });
    await assert.rejects(send(transport, 'chat-bad', 'hi'), /unknown_model|not of a known model family/);
  });
});

describe('WebSocketChatTransport over ws', () => {
  it('streams several chats at once on one socket', async () => {
    const transport = wsTransport();
    try {
      const chats = ['a', 'b', 'c'].map(n => `chat-${n}-${crypto.randomUUID()}`);
      const messages = await within(
        Promise.all(chats.map(async (chatId, i) => finalMessage(await send(transport, chatId, prompt(`tokens=${5 + i} rate=100 ttft_ms=0`))))),
      );
      for (const [i, message] of messages.entries()) {
        const info = await gw.session(message.id);
        assert.equal(info.status, 'complete');
        assert.equal(textOf(message), info.text);
        assert.equal(info.usage.outputTokens, 5 + i);
      }
      assert.equal(new Set(messages.map(m => m.id)).size, 3);
    } finally {
      transport.close();
    }
  });

  it('abort stops the upstream at once', async () => {
    const transport = wsTransport();
    try {
      const before = await gw.simStats();
      const abort = new AbortController();
      const stream = await send(transport, `chat-${crypto.randomUUID()}`, prompt('tokens=200 rate=20 ttft_ms=0'), abort.signal);
      const reader = stream.getReader();
      const chunks = await readDeltas(reader, 2);
      const sessionId = chunks.find(c => c.type === 'start').messageId;
      abort.abort();
      // Well inside the 60 s cancel grace: the abort, not the grace, stopped it.
      await eventually(async () => (await gw.simStats()).streamsCancelled === before.streamsCancelled + 1, 10_000, 'the simulator to see the cancel');
      const info = await eventually(async () => {
        const s = await gw.session(sessionId);
        return s.status !== 'streaming' && s;
      });
      assert.equal(info.status, 'cancelled');
      assert.ok(info.usage.outputTokens < 200);
    } finally {
      transport.close();
    }
  });

  it('resumes on a new socket after the first one drops, then reports no-active', async () => {
    const first = wsTransport();
    const chatId = `chat-${crypto.randomUUID()}`;
    const before = await gw.simStats();
    const stream = await send(first, chatId, prompt('tokens=40 rate=20 ttft_ms=0'));
    const reader = stream.getReader();
    const chunks = await readDeltas(reader, 3);
    const sessionId = chunks.find(c => c.type === 'start').messageId;
    first.close(); // the reader drops: no abort frame, the socket just goes away

    const second = wsTransport();
    try {
      const resumed = await second.reconnectToStream({ chatId });
      assert.ok(resumed, 'the chat has an active stream');
      const message = await within(finalMessage(resumed));
      assert.equal(message.id, sessionId);
      const info = await gw.session(sessionId);
      assert.equal(info.status, 'complete');
      assert.equal(textOf(message), info.text, 'the replay holds every token');
      assert.equal(await second.reconnectToStream({ chatId }), null, 'no-active once finished');
      assert.equal((await gw.simStats()).streamsCancelled, before.streamsCancelled);
    } finally {
      second.close();
    }
  });

  it('resumes over WebSocket a chat started over HTTP', async () => {
    const chatId = `chat-${crypto.randomUUID()}`;
    const abort = new AbortController();
    const stream = await send(httpTransport(), chatId, prompt('tokens=30 rate=20 ttft_ms=0'), abort.signal);
    const chunks = await readDeltas(stream.getReader(), 2);
    abort.abort();
    const ws = wsTransport();
    try {
      const message = await within(finalMessage(await ws.reconnectToStream({ chatId })));
      assert.equal(message.id, chunks[0].messageId);
      assert.equal(textOf(message), (await gw.session(message.id)).text);
    } finally {
      ws.close();
    }
  });

  it('renders an upstream failure as an error chunk the reader raises', async () => {
    const transport = wsTransport();
    try {
      const stream = await send(transport, `chat-${crypto.randomUUID()}`, prompt('tokens=20 error_after=3 rate=0 ttft_ms=0'));
      await assert.rejects(within(finalMessage(stream, { terminateOnError: true })), /model_stream_error/);
    } finally {
      transport.close();
    }
  });

  it('reports a refused request as an error frame', async () => {
    const transport = new WebSocketChatTransport({
      url: `${gw.url}/v1/ai-sdk/ws`,
      params: { token: gw.token },
      webSocket: WebSocket,
      body: { model: 'acme.nope-v1' },
    });
    try {
      const stream = await send(transport, 'chat-bad', 'hi');
      await assert.rejects(within(stream.getReader().read()), /not of a known model family/);
    } finally {
      transport.close();
    }
  });
});

// Tools, reasoning and files: the same on both transports.

const WEATHER = {
  name: 'get_weather',
  description: 'The weather in a city',
  inputSchema: {
    type: 'object',
    properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['C', 'F'] } },
    required: ['city'],
  },
};
const TOOLS = { model: CLAUDE, tools: [WEATHER] };
const THINK = { model: THINKING, reasoning: { budgetTokens: 1024 } };

const TRANSPORTS = {
  'DefaultChatTransport over HTTP': () => httpTransport(),
  'WebSocketChatTransport over ws': () => wsTransport(),
};

/** Send `messages`, with `body` over the transport's own. */
function sendAll(transport, chatId, messages, body, abortSignal) {
  return transport.sendMessages({ chatId, messages, trigger: 'submit-message', messageId: undefined, body, abortSignal });
}

/** The stream, with each chunk pushed onto `into` as it passes. */
function recorded(stream, into) {
  return stream.pipeThrough(
    new TransformStream({
      transform(chunk, controller) {
        into.push(chunk);
        controller.enqueue(chunk);
      },
    }),
  );
}

/** The answer's final UI message; fails on an error chunk. `chunks` gets every chunk. */
async function answer(transport, chatId, messages, body, chunks = []) {
  const stream = await sendAll(transport, chatId, messages, body);
  return within(finalMessage(recorded(stream, chunks), { terminateOnError: true }));
}

/** Read chunks until one passes `test`. */
async function readUntil(reader, test) {
  for (;;) {
    const { value, done } = await within(reader.read(), 10_000, 'a chunk');
    assert.ok(!done, 'the stream ended early');
    if (test(value)) return value;
  }
}

/** Send and read the first chunk: a refusal rejects one or the other (HTTP status, WebSocket error frame). */
async function firstChunk(transport, chatId, messages, body) {
  const stream = await sendAll(transport, chatId, messages, body);
  return within(stream.getReader().read());
}

for (const [name, make] of Object.entries(TRANSPORTS)) {
  describe(`tools, reasoning and files: ${name}`, () => {
    let transport;
    before(() => {
      transport = make();
    });
    after(() => transport?.close?.());

    it('a client-side tool: the call, then its output sent back', async () => {
      const chatId = `chat-${crypto.randomUUID()}`;
      const user = userMessage(prompt('tool=get_weather rate=0 ttft_ms=0'));
      const chunks = [];
      const first = await answer(transport, chatId, [user], TOOLS, chunks);
      const call = first.parts.find(p => p.type === 'tool-get_weather');
      assert.ok(call, `a tool part in ${JSON.stringify(first.parts)}`);
      assert.equal(call.state, 'input-available');
      assert.deepEqual(call.input, { city: 'sample' }, 'required properties only, strings are "sample"');
      const types = chunks.map(c => c.type);
      assert.ok(types.indexOf('tool-input-start') < types.indexOf('tool-input-delta'));
      assert.ok(types.indexOf('tool-input-delta') < types.indexOf('tool-input-available'));
      assert.equal(chunks.find(c => c.type === 'finish').finishReason, 'tool-calls');

      // What `addToolOutput` does, then the next request carries the output.
      const output = 'Sunny, 21 °C';
      const answered = {
        ...first,
        parts: first.parts.map(p => (p === call ? { ...p, state: 'output-available', output } : p)),
      };
      const next = await answer(transport, chatId, [user, answered], TOOLS);
      assert.ok(textOf(next).startsWith(`Tool result: ${output}`), textOf(next));
    });

    it('reasoning arrives as a part whose signature the next request replays', async () => {
      const chatId = `chat-${crypto.randomUUID()}`;
      const user = userMessage(prompt('think=3 tokens=5 rate=0 ttft_ms=0'));
      const chunks = [];
      const first = await answer(transport, chatId, [user], THINK, chunks);
      const reasoning = first.parts.filter(p => p.type === 'reasoning');
      assert.equal(reasoning.length, 1, JSON.stringify(first.parts));
      assert.ok(reasoning[0].text.length > 0);
      assert.equal(reasoning[0].state, 'done');
      assert.equal(typeof reasoning[0].providerMetadata?.bedrock?.signature, 'string');
      assert.equal(chunks.filter(c => c.type === 'reasoning-delta').length, 3);
      assert.ok(first.parts.indexOf(reasoning[0]) < first.parts.findIndex(p => p.type === 'text'), 'reasoning comes first');

      // The simulator, like Bedrock, refuses a signature it did not issue:
      // the replay is accepted only because the signature came back intact.
      const next = await answer(transport, chatId, [user, first, userMessage('And then?')], THINK);
      assert.ok(textOf(next).length > 0);
      const forged = {
        ...first,
        parts: first.parts.map(p => (p.type === 'reasoning' ? { ...p, providerMetadata: { bedrock: { signature: 'forged' } } } : p)),
      };
      await assert.rejects(answer(transport, chatId, [user, forged, userMessage('And then?')], THINK), /signature/i);
    });

    it('an attached image reaches the model', async () => {
      const message = {
        id: `m-${crypto.randomUUID()}`,
        role: 'user',
        parts: [
          { type: 'text', text: prompt('tokens=5 rate=0 ttft_ms=0') },
          { type: 'file', mediaType: 'image/png', filename: 'dot.png', url: pngDataUrl(3, 2) },
        ],
      };
      const reply = await answer(transport, `chat-${crypto.randomUUID()}`, [message], { model: CLAUDE });
      assert.match(textOf(reply), /^\[image\/png 3x2\]$/m);
    });

    it('message metadata (usage, model, session) when the body asks for it', async () => {
      const user = userMessage(prompt('tokens=4 rate=0 ttft_ms=0'));
      const plain = await answer(transport, `chat-${crypto.randomUUID()}`, [user], { model: CLAUDE });
      assert.equal(plain.metadata, undefined, 'none unless asked');
      const message = await answer(transport, `chat-${crypto.randomUUID()}`, [user], { model: CLAUDE, messageMetadata: true });
      const { sessionId, model, usage } = message.metadata;
      const info = await gw.session(sessionId);
      assert.equal(model, CLAUDE);
      assert.equal(usage.outputTokens, info.usage.outputTokens);
      assert.ok(usage.inputTokens > 0);
    });

    it('a chat may open with a greeting, and a file part may name image/*', async () => {
      const greeting = { id: 'welcome', role: 'assistant', parts: [{ type: 'text', text: 'Hi! Ask me anything.' }] };
      const message = {
        id: `m-${crypto.randomUUID()}`,
        role: 'user',
        parts: [
          { type: 'text', text: prompt('tokens=5 rate=0 ttft_ms=0') },
          { type: 'file', mediaType: 'image/*', url: pngDataUrl(3, 2) },
        ],
      };
      const reply = await answer(transport, `chat-${crypto.randomUUID()}`, [greeting, message], { model: CLAUDE });
      assert.match(textOf(reply), /^\[image\/png 3x2\]$/m);
    });

    it('a resumed stream replays reasoning and the tool call', async () => {
      const chatId = `chat-${crypto.randomUUID()}`;
      const dropped = make();
      const abort = new AbortController();
      const body = { ...THINK, tools: [WEATHER] };
      const stream = await sendAll(dropped, chatId, [userMessage(prompt('think=2 tool=get_weather tokens=40 rate=20 ttft_ms=0'))], body, abort.signal);
      await readUntil(stream.getReader(), c => c.type === 'reasoning-delta');
      // The reader drops: the socket closes (WebSocket), the fetch is aborted (HTTP).
      if (dropped.close) dropped.close();
      else abort.abort();

      const resumed = await transport.reconnectToStream({ chatId });
      assert.ok(resumed, 'the chat has an active stream');
      const message = await within(finalMessage(resumed, { terminateOnError: true }));
      const types = message.parts.map(p => p.type);
      assert.equal(types.filter(t => t === 'reasoning').length, 1, types.join());
      assert.ok(types.includes('text') && types.includes('tool-get_weather'), types.join());
      assert.ok(types.indexOf('reasoning') < types.indexOf('text'));
      const info = await gw.session(message.id);
      assert.equal(textOf(message), info.text, 'the replay holds every token');
    });

    it('leaves out a tool call sent back without an outcome, refuses an unknown state', async () => {
      const user = userMessage('Weather?');
      const pending = {
        id: `m-${crypto.randomUUID()}`,
        role: 'assistant',
        parts: [{ type: 'step-start' }, { type: 'tool-get_weather', toolCallId: 't1', state: 'input-available', input: { city: 'x' } }],
      };
      // What a chat holds after `stop()` during a tool call: the call never
      // ran, and the user moved on.
      const next = userMessage(prompt('tokens=3 rate=0 ttft_ms=0'));
      const reply = await answer(transport, `chat-${crypto.randomUUID()}`, [user, pending, next], TOOLS);
      assert.ok(textOf(reply).length > 0);
      const odd = { ...pending, parts: [{ type: 'tool-get_weather', toolCallId: 't1', state: 'pondering' }] };
      await assert.rejects(firstChunk(transport, `chat-${crypto.randomUUID()}`, [user, odd], TOOLS), /pondering/);
      const remote = {
        ...user,
        parts: [...user.parts, { type: 'file', mediaType: 'image/png', url: 'https://example.com/a.png' }],
      };
      await assert.rejects(firstChunk(transport, `chat-${crypto.randomUUID()}`, [remote], TOOLS), /not fetched/);
    });
  });
}

/** A `Chat` as `useChat` runs it, its state in plain arrays. */
class TestChat extends AbstractChat {
  constructor(init) {
    const state = {
      status: 'ready',
      error: undefined,
      messages: [],
      pushMessage: m => {
        state.messages = state.messages.concat(m);
      },
      popMessage: () => {
        state.messages = state.messages.slice(0, -1);
      },
      replaceMessage: (i, m) => {
        state.messages = [...state.messages.slice(0, i), m, ...state.messages.slice(i + 1)];
      },
      snapshot: v => structuredClone(v),
    };
    super({ ...init, state });
  }
}

const CHAT_TRANSPORTS = {
  'DefaultChatTransport over HTTP': body =>
    new DefaultChatTransport({ api: `${gw.url}/v1/ai-sdk/chat`, headers: gw.auth, body }),
  'WebSocketChatTransport over ws': body =>
    new WebSocketChatTransport({
      url: `${gw.url}/v1/ai-sdk/ws`,
      protocols: ['spillway.v1', `bearer.${gw.token}`],
      webSocket: WebSocket,
      body,
    }),
};

for (const [name, make] of Object.entries(CHAT_TRANSPORTS)) {
  describe(`the Chat class (useChat): ${name}`, () => {
    it('a tool round-trip extends the assistant message, not a second one', async () => {
      const transport = make(TOOLS);
      const chat = new TestChat({
        id: `chat-${crypto.randomUUID()}`,
        transport,
        onToolCall: ({ toolCall }) => {
          chat.addToolOutput({ tool: 'get_weather', toolCallId: toolCall.toolCallId, output: 'Sunny, 21 °C' });
        },
        sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithToolCalls,
      });
      await chat.sendMessage({ text: prompt('tool=get_weather rate=0 ttft_ms=0') });
      await eventually(
        () => chat.status === 'ready' && chat.lastMessage.parts.some(p => p.type === 'text' && p.text.startsWith('Tool result')),
        20_000,
        'the answer after the tool output',
      );
      assert.deepEqual(chat.messages.map(m => m.role), ['user', 'assistant']);
      const calls = chat.messages[1].parts.filter(p => p.type === 'tool-get_weather');
      assert.equal(calls.length, 1, JSON.stringify(chat.messages[1].parts));
      assert.equal(calls[0].state, 'output-available');
      transport.close?.();
    });

    it('stop(), then a new message: the stopped answer is cancelled upstream', async () => {
      const transport = make({ model: CLAUDE });
      const chat = new TestChat({ id: `chat-${crypto.randomUUID()}`, transport });
      const before = await gw.simStats();
      const first = chat.sendMessage({ text: prompt('tokens=400 rate=20 ttft_ms=0') });
      await eventually(() => chat.status === 'streaming' && textOf(chat.lastMessage).length > 0, 10_000, 'the first tokens');
      await chat.stop();
      await first;
      await chat.sendMessage({ text: prompt('tokens=3 rate=0 ttft_ms=0') });
      await eventually(() => chat.status === 'ready', 10_000, 'the second answer');
      assert.deepEqual(chat.messages.map(m => m.role), ['user', 'assistant', 'user', 'assistant']);
      await eventually(
        async () => (await gw.simStats()).streamsCancelled > before.streamsCancelled,
        10_000,
        'the stopped upstream to be cancelled',
      );
      transport.close?.();
    });
  });
}
