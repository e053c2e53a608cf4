// Claude Code, headless (`claude -p`), against the gateway's Anthropic
// Messages API: `ANTHROPIC_BASE_URL` is the gateway, `ANTHROPIC_AUTH_TOKEN`
// the JWT (sent as `Authorization: Bearer`). One plain answer, and a tool
// loop with thinking: the model calls Claude Code's own `Read` tool, Claude
// Code reads the file and sends the result back with the signed thinking
// block, and the simulator echoes the result.
//
// Claude Code comes from `claude_code.mjs` (installed into a scratch
// directory; the test is skipped when it cannot be installed).

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { claudeBinary, runClaude } from './claude_code.mjs';
import { startGateway } from './gateway.mjs';

const claude = claudeBinary();

describe('Claude Code', { skip: claude ? false : 'Claude Code could not be installed' }, () => {
  let gw;
  let home;
  let work;

  before(async () => {
    gw = await startGateway();
    home = mkdtempSync(join(tmpdir(), 'spillway-cc-home-'));
    work = mkdtempSync(join(tmpdir(), 'spillway-cc-work-'));
  });

  after(async () => {
    await gw?.stop();
    for (const d of [home, work]) if (d) rmSync(d, { recursive: true, force: true });
  });

  /** `claude -p prompt` in the scratch work dir (with `model`, else
   * Claude Code's default); its JSON result. */
  function ask(prompt, model = 'claude-sonnet-4-5') {
    return runClaude(claude, {
      prompt,
      args: [...(model ? ['--model', model] : []), '--max-turns', '4'],
      cwd: work,
      home,
      env: { ANTHROPIC_BASE_URL: gw.url, ANTHROPIC_AUTH_TOKEN: gw.token },
    });
  }

  it('answers a prompt', async () => {
    const result = await ask('Say hello [[sim tokens=5 rate=0 ttft_ms=0]]');
    assert.equal(result.is_error, false, JSON.stringify(result));
    assert.equal(result.stop_reason, 'end_turn');
    assert.ok(result.result.length > 0);
    assert.ok(result.usage.output_tokens > 0);
  });

  // Its default model (a newer Claude) comes with adaptive thinking, an
  // effort, context management and a mid-conversation system message.
  it('answers with its default model', async () => {
    const result = await ask('Say hello [[sim tokens=5 rate=0 ttft_ms=0]]', null);
    assert.equal(result.is_error, false, JSON.stringify(result));
    assert.equal(result.stop_reason, 'end_turn');
    assert.ok(result.result.length > 0);
  });

  it('runs a tool loop with thinking', async () => {
    writeFileSync(join(work, 'sample'), 'hello from the sample file\n');
    const result = await ask('Read the file [[sim tool=Read think=2 tokens=3 rate=0 ttft_ms=0]]');
    assert.equal(result.is_error, false, JSON.stringify(result));
    assert.equal(result.num_turns, 2);
    assert.match(result.result, /^Tool result: .*hello from the sample file/s);
  });
});
