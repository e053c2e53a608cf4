// The Vercel AI SDK's own transports and reader against the gateway:
// `DefaultChatTransport` (POST /v1/ai-sdk/chat, resume GET), the
// `WebSocketChatTransport` over the `ws` package (GET /v1/ai-sdk/ws), and
// `readUIMessageStream` to turn their chunks into UI messages.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { DefaultChatTransport, WebSocketChatTransport, readUIMessageStream } from 'ai';
import WebSocket from 'ws';

import { CLAUDE, eventually, prompt, startGateway, userMessage, within } from './gateway.mjs';

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
