// The Vercel AI SDK's OpenAI provider (`@ai-sdk/openai`) against the
// gateway's OpenAI routes: plain streaming on chat completions, and typed
// answers (`Output.object`, which sends `response_format` on chat
// completions and `text.format` on the Responses API).

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
});
