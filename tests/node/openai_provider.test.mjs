// The Vercel AI SDK's OpenAI provider (`@ai-sdk/openai`) against the
// gateway's OpenAI routes: plain streaming on chat completions, typed
// answers (`Output.object`, which sends `response_format` on chat
// completions and `text.format` on the Responses API), and a Responses
// conversation whose earlier answers go back as `item_reference`s (the
// provider's default, `store: true`).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { createOpenAI } from '@ai-sdk/openai';
import { Output, generateText, streamText } from 'ai';
import { z } from 'zod';

import { CLAUDE, startGateway, within } from './gateway.mjs';

let gw;
let openai;

before(async () => {
  gw = await startGateway();
  openai = createOpenAI({ baseURL: `${gw.url}/v1`, apiKey: gw.token });
});

after(async () => {
  await gw?.stop();
});

const place = z.object({ city: z.string(), country: z.string() });
const FAST = '[[sim rate=0 ttft_ms=0]]';

describe('@ai-sdk/openai', () => {
  it('streams text from chat completions', async () => {
    const result = streamText({
      model: openai.chat(CLAUDE),
      prompt: `Tell me about rivers [[sim tokens=6 rate=0 ttft_ms=0]]`,
    });
    const text = await within(result.text, 30_000, 'the text');
    assert.equal(text.trim().split(/\s+/).length, 6, text);
    assert.equal(await result.finishReason, 'stop');
  });

  it('answers a typed object through chat completions (response_format)', async () => {
    const { output, finishReason } = await within(
      generateText({
        model: openai.chat(CLAUDE),
        output: Output.object({ schema: place }),
        prompt: `Where is the Louvre? ${FAST}`,
      }),
    );
    assert.equal(typeof output.city, 'string');
    assert.equal(typeof output.country, 'string');
    assert.equal(finishReason, 'stop');
  });

  it('answers a typed object through the Responses API (text.format)', async () => {
    const { output } = await within(
      generateText({
        model: openai.responses(CLAUDE),
        output: Output.object({ schema: place }),
        prompt: `Where is the Louvre? ${FAST}`,
      }),
    );
    assert.equal(typeof output.city, 'string');
    assert.equal(typeof output.country, 'string');
  });

  it('continues a Responses conversation whose answers go back as item references', async () => {
    // The provider as configured, its request bodies seen on the way out.
    const sent = [];
    const watched = createOpenAI({
      baseURL: `${gw.url}/v1`,
      apiKey: gw.token,
      fetch: (url, init) => {
        sent.push(JSON.parse(init.body));
        return fetch(url, init);
      },
    });
    const first = { role: 'user', content: `Tell me about rivers [[sim tokens=6 rate=0 ttft_ms=0]]` };
    const one = await within(generateText({ model: watched.responses(CLAUDE), messages: [first] }));
    const next = { role: 'user', content: `And lakes? [[sim tokens=2 rate=0 ttft_ms=0]]` };
    const two = await within(
      generateText({ model: watched.responses(CLAUDE), messages: [first, ...one.response.messages, next] }),
    );
    const references = sent[1].input.filter((item) => item.type === 'item_reference');
    assert.equal(references.length, 1, JSON.stringify(sent[1].input));
    assert.equal(two.finishReason, 'stop');
    assert.ok(two.text);
    // The referenced answer reached the model: more input than without it.
    const alone = await within(
      generateText({ model: openai.responses(CLAUDE), messages: [first, next] }),
    );
    const [withIt, without] = [two.usage.inputTokens, alone.usage.inputTokens];
    assert.ok(withIt > without, `${withIt} input tokens, ${without} without the answer`);
  });
});
