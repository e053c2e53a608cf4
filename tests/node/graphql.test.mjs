// The official `graphql-ws` client against the gateway's `/graphql`
// subscriptions: a stream started with tools and a reasoning budget arrives
// with its reasoning and tool-call parts, late subscribers included, and the
// answer's parts go back as the next turn of a tool loop; a socket whose
// token expires is reconnected by the client itself, with the fresh token
// its `connectionParams()` returns.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

import { THINKING, prompt, startGateway, within } from './gateway.mjs';

let gw;
let client;

before(async () => {
  // Expiry is exact (no leeway), so a 2-second token's socket closes after 2 seconds.
  gw = await startGateway({ SPILLWAY_DRAIN_SECS: '1', SPILLWAY_JWT_LEEWAY_SECS: '0' });
  client = createClient({
    url: gw.url.replace(/^http/, 'ws') + '/graphql',
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${gw.token}` },
    retryAttempts: 0,
  });
});

after(async () => {
  await client?.dispose();
  await gw?.stop();
});

const LOOKUP = {
  name: 'lookup',
  inputSchema: JSON.stringify({ type: 'object', properties: { q: { type: 'string' } }, required: ['q'] }),
};

async function mutate(query, variables) {
  const res = await fetch(`${gw.url}/graphql`, {
    method: 'POST',
    headers: { ...gw.auth, 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data;
}

const START = `mutation($p: String!, $m: [MessageInput!], $tools: [ToolInput!], $model: String) {
  startStream(prompt: $p, model: $model, messages: $m, tools: $tools, reasoningBudgetTokens: 1024) { sessionId }
}`;

const EVENTS = `subscription($id: String!) {
  onTokenReceived(sessionId: $id) {
    seq token isComplete stopReason
    part { type index text signature id name inputDelta input }
  }
}`;

/** Every event of a session through the graphql-ws client, to the last. */
async function events(sessionId) {
  const out = [];
  const sub = client.iterate({ query: EVENTS, variables: { id: sessionId } });
  for await (const result of sub) {
    assert.equal(result.errors, undefined, JSON.stringify(result.errors));
    out.push(result.data.onTokenReceived);
    if (result.data.onTokenReceived.isComplete) break;
  }
  return out;
}

describe('graphql-ws receives parts', () => {
  it('streams reasoning and a tool call, then the tool loop answers with the result', async () => {
    const first = await mutate(START, {
      p: prompt('tool=lookup think=2 tokens=3'),
      model: THINKING,
      tools: [LOOKUP],
    });
    const evs = await within(events(first.startStream.sessionId));
    evs.forEach((e, i) => assert.equal(e.seq, i, 'contiguous from seq 0'));
    const parts = evs.map(e => e.part).filter(Boolean);
    assert.equal(parts[0].type, 'reasoning');
    assert.ok(parts.some(p => p.type === 'reasoning' && p.signature), 'a signature closes the reasoning');
    for (const e of evs.filter(e => e.part)) assert.equal(e.token, '', 'a part event has no token');
    const start = parts.find(p => p.type === 'toolCall' && p.name && !p.input);
    const end = parts.findLast(p => p.type === 'toolCall');
    assert.equal(start.name, 'lookup');
    const streamed = parts.filter(p => p.inputDelta != null).map(p => p.inputDelta).join('');
    assert.deepEqual(JSON.parse(end.input), { q: 'sample' }, 'input is a JSON string');
    assert.deepEqual(JSON.parse(streamed), JSON.parse(end.input));
    assert.equal(evs.at(-1).stopReason, 'tool_use');

    // A late subscriber gets the same parts.
    const again = await within(events(first.startStream.sessionId));
    assert.deepEqual(again, evs);

    const second = await mutate(START, {
      p: '',
      model: THINKING,
      tools: [LOOKUP],
      m: [
        { role: 'USER', content: 'find it' },
        { role: 'ASSISTANT', parts: [{ type: 'toolCall', id: end.id, name: 'lookup', input: end.input }] },
        { role: 'USER', parts: [{ type: 'toolResult', toolCallId: end.id, content: 'found it' }] },
      ],
    });
    const answer = await within(events(second.startStream.sessionId));
    const text = answer.map(e => e.token).join('');
    assert.ok(text.startsWith('Tool result: found it'), text);
    assert.equal(answer.at(-1).stopReason, 'end_turn');
  });
});

describe('graphql-ws and structured output', () => {
  it('startStream(outputSchema) answers JSON of the schema, through Converse for any model', async () => {
    const schema = { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city', 'days'] };
    for (const [model, api] of [['us.amazon.nova-lite-v1:0', 'CONVERSE'], [THINKING, 'INVOKE']]) {
      const started = await mutate(
        `mutation($p: String!, $model: String, $api: BedrockApi, $schema: String) {
          startStream(prompt: $p, model: $model, api: $api, outputSchema: $schema) { sessionId }
        }`,
        { p: prompt('tokens=5 rate=0 ttft_ms=0'), model, api, schema: JSON.stringify(schema) },
      );
      const evs = await within(events(started.startStream.sessionId));
      const text = evs.map(e => e.token).join('');
      assert.deepEqual(JSON.parse(text), { city: 'sample', days: 1 }, `${model} ${api}`);
      assert.equal(evs.at(-1).stopReason, 'end_turn');
    }
  });
});

describe('graphql-ws and an expiring token', () => {
  it('reconnects by itself with the token connectionParams() returns next, and the stream is whole by seq', async () => {
    const started = await mutate(
      `mutation($p: String!) { startStream(prompt: $p) { sessionId } }`,
      { p: prompt('tokens=30 rate=10 ttft_ms=0') },
    );
    const sessionId = started.startStream.sessionId;
    // The first connection gets a token that expires within 2 s, later ones a fresh token.
    const short = gw.mint(2);
    const tokens = [];
    const closes = [];
    const renewing = createClient({
      url: gw.url.replace(/^http/, 'ws') + '/graphql',
      webSocketImpl: WebSocket,
      connectionParams: () => {
        const token = tokens.length === 0 ? short : gw.token;
        tokens.push(token);
        return { Authorization: `Bearer ${token}` };
      },
      retryAttempts: 3,
      retryWait: async () => {},
      on: { closed: e => closes.push(e.code) },
    });
    try {
      // graphql-ws re-sends the original subscribe after a reconnect (from
      // seq 0 here): the recipe is to keep what is new by seq.
      const bySeq = new Map();
      const sub = renewing.iterate({ query: EVENTS, variables: { id: sessionId } });
      await within(
        (async () => {
          for await (const result of sub) {
            assert.equal(result.errors, undefined, JSON.stringify(result.errors));
            const ev = result.data.onTokenReceived;
            bySeq.set(ev.seq, ev);
            if (ev.isComplete) break;
          }
        })(),
      );
      assert.ok(closes.includes(4403), `closed for the expired token: ${closes}`);
      assert.ok(tokens.length >= 2, 'connectionParams() asked again');
      assert.equal(tokens.at(-1), gw.token, 'the reconnect used the fresh token');
      const evs = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
      evs.forEach((e, i) => assert.equal(e.seq, i, 'contiguous from seq 0'));
      assert.equal(evs.length, 31);
      assert.equal(evs.at(-1).stopReason, 'end_turn');
    } finally {
      await renewing.dispose();
    }
  });
});
