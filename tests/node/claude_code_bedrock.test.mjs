// Claude Code in Bedrock mode, headless (`claude -p`), against the gateway's
// Bedrock runtime API. Nothing is tuned but what a user sets:
// `CLAUDE_CODE_USE_BEDROCK=1`, `ANTHROPIC_BEDROCK_BASE_URL` (the gateway),
// `AWS_BEARER_TOKEN_BEDROCK` (the JWT), `AWS_REGION` and `ANTHROPIC_MODEL` (a
// Bedrock id); no output-token cap, so Claude Code asks for its own default
// `max_tokens` with thinking on. One plain answer, and a tool loop: the model
// calls Claude Code's own `Read` tool, Claude Code reads the file and sends
// the result back with the signed thinking block, and the simulator echoes it.
//
// Claude Code reaches the gateway through a recording pass-through proxy in
// this process, so the tests see what it sent (routes, auth scheme, bodies)
// and which gateway sessions answered it (`X-Session-Id`), and look those up.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { claudeBinary, runClaude } from './claude_code.mjs';
import { startGateway } from './gateway.mjs';

const claude = claudeBinary();
const MODEL = 'global.anthropic.claude-sonnet-4-5-20250929-v1:0';
const STREAM_PATH = `/model/${MODEL}/invoke-with-response-stream`;
/** The gateway's Bedrock runtime routes. */
const BEDROCK_ROUTE =
  /^\/(model\/[^/]+\/(invoke|invoke-with-response-stream|converse|converse-stream)|inference-profiles|foundation-models)(\?|$)/;

/**
 * A pass-through proxy to `target` that records each request (method, path,
 * `Authorization`, JSON body) and its answer (status, `X-Session-Id`) before
 * relaying it; the answer's body is piped through as it comes.
 */
function recordingProxy(target) {
  const seen = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', c => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const entry = { method: req.method, path: req.url, authorization: req.headers.authorization };
      try {
        entry.body = raw.length ? JSON.parse(raw) : undefined;
      } catch {
        entry.body = raw.toString();
      }
      seen.push(entry);
      const upstream = httpRequest(new URL(req.url, target), { method: req.method, headers: req.headers }, up => {
        entry.status = up.statusCode;
        entry.sessionId = up.headers['x-session-id'];
        res.writeHead(up.statusCode, up.headers);
        up.pipe(res);
      });
      upstream.on('error', e => res.destroy(e));
      upstream.end(raw);
    });
  });
  return new Promise(resolve => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        seen,
        close: () => new Promise(r => server.close(r)),
      });
    });
  });
}

describe('Claude Code in Bedrock mode', { skip: claude ? false : 'Claude Code could not be installed' }, () => {
  let gw;
  let proxy;
  let home;
  let work;

  before(async () => {
    gw = await startGateway();
    proxy = await recordingProxy(gw.url);
    home = mkdtempSync(join(tmpdir(), 'spillway-ccb-home-'));
    work = mkdtempSync(join(tmpdir(), 'spillway-ccb-work-'));
  });

  after(async () => {
    await proxy?.close();
    await gw?.stop();
    for (const d of [home, work]) if (d) rmSync(d, { recursive: true, force: true });
  });

  /** `claude -p prompt` in Bedrock mode; its JSON result and the requests it made. */
  async function ask(prompt) {
    const from = proxy.seen.length;
    const result = await runClaude(claude, {
      prompt,
      args: ['--max-turns', '4'],
      cwd: work,
      home,
      env: {
        CLAUDE_CODE_USE_BEDROCK: '1',
        ANTHROPIC_BEDROCK_BASE_URL: proxy.url,
        AWS_BEARER_TOKEN_BEDROCK: gw.token,
        AWS_REGION: 'us-east-1',
        ANTHROPIC_MODEL: MODEL,
      },
    });
    const requests = proxy.seen.slice(from);
    // Every call went to a Bedrock route with the JWT as a bearer token.
    for (const r of requests) {
      assert.match(r.path, BEDROCK_ROUTE, `${r.method} ${r.path}`);
      assert.equal(r.authorization, `Bearer ${gw.token}`, `${r.method} ${r.path}`);
    }
    const turns = requests.filter(r => r.method === 'POST' && r.path === STREAM_PATH);
    for (const t of turns) assert.equal(t.status, 200, JSON.stringify(t.body).slice(0, 200));
    return { result, requests, turns };
  }

  it('answers a prompt through InvokeModelWithResponseStream', async () => {
    const { result, requests, turns } = await ask('Say hello [[sim tokens=5 rate=0 ttft_ms=0]]');
    assert.equal(result.is_error, false, JSON.stringify(result));
    assert.equal(result.stop_reason, 'end_turn');
    assert.ok(result.usage.output_tokens > 0);
    assert.equal(turns.length, 1);
    // Claude Code's own request: its default output cap and thinking, kept.
    assert.equal(turns[0].body.anthropic_version, 'bedrock-2023-05-31');
    assert.ok(turns[0].body.max_tokens >= 32_000, `max_tokens ${turns[0].body.max_tokens}`);
    assert.equal(turns[0].body.thinking?.type, 'enabled');
    // The answer is the gateway session's text.
    const info = await gw.session(turns[0].sessionId);
    assert.equal(info.status, 'complete');
    assert.equal(info.model, MODEL);
    assert.equal(result.result, info.text);
    // At start (a fresh HOME) Claude Code lists the inference profiles.
    const listing = requests.find(r => r.method === 'GET' && r.path.startsWith('/inference-profiles'));
    assert.equal(listing?.status, 200, 'GET /inference-profiles');
  });

  it("runs a tool loop through Claude Code's Read tool", async () => {
    writeFileSync(join(work, 'sample'), 'hello from the sample file\n');
    const { result, turns } = await ask('Read the file [[sim tool=Read think=2 tokens=3 rate=0 ttft_ms=0]]');
    assert.equal(result.is_error, false, JSON.stringify(result));
    assert.equal(result.num_turns, 2);
    assert.match(result.result, /^Tool result: .*hello from the sample file/s);
    assert.equal(turns.length, 2);

    // Turn 1: the model called Read (the simulator fills `file_path` with
    // "sample", the file above, relative to the work dir).
    const first = await gw.session(turns[0].sessionId);
    assert.equal(first.stopReason, 'tool_use');
    const call = first.content.find(p => p.type === 'toolCall');
    assert.equal(call?.name, 'Read');
    const reasoning = first.content.find(p => p.type === 'reasoning');
    assert.ok(reasoning?.signature);

    // Turn 2: Claude Code sent back the signed thinking block and the file's
    // contents as the tool's result.
    const messages = turns[1].body.messages;
    const assistant = messages.at(-2);
    assert.equal(assistant.role, 'assistant');
    const thinking = assistant.content.find(b => b.type === 'thinking');
    assert.equal(thinking?.signature, reasoning.signature);
    assert.ok(assistant.content.some(b => b.type === 'tool_use' && b.id === call.id && b.name === 'Read'));
    const toolResult = messages.at(-1).content.find(b => b.type === 'tool_result');
    assert.equal(toolResult?.tool_use_id, call.id);
    assert.match(JSON.stringify(toolResult.content), /hello from the sample file/);

    const second = await gw.session(turns[1].sessionId);
    assert.equal(second.stopReason, 'end_turn');
    assert.equal(result.result, second.text);
  });
});

describe('Claude Code in Bedrock mode with an application inference profile', { skip: claude ? false : 'Claude Code could not be installed' }, () => {
  // What teams that track cost per profile set: the profile's ARN as the
  // model. The gateway is told which model the profile routes to.
  const ARN = 'arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/cc7team';
  let gw;
  let home;
  let work;

  before(async () => {
    gw = await startGateway({ SPILLWAY_PROFILE_MODELS: JSON.stringify({ [ARN]: MODEL }) });
    home = mkdtempSync(join(tmpdir(), 'spillway-ccp-home-'));
    work = mkdtempSync(join(tmpdir(), 'spillway-ccp-work-'));
  });

  after(async () => {
    await gw?.stop();
    for (const d of [home, work]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('answers through InvokeModelWithResponseStream on the profile', async () => {
    const result = await runClaude(claude, {
      prompt: 'Say hello [[sim tokens=5 rate=0 ttft_ms=0]]',
      args: ['--max-turns', '2'],
      cwd: work,
      home,
      env: {
        CLAUDE_CODE_USE_BEDROCK: '1',
        ANTHROPIC_BEDROCK_BASE_URL: gw.url,
        AWS_BEARER_TOKEN_BEDROCK: gw.token,
        AWS_REGION: 'us-east-1',
        ANTHROPIC_MODEL: ARN,
      },
    });
    assert.equal(result.is_error, false, JSON.stringify(result));
    assert.equal(result.stop_reason, 'end_turn');
    assert.ok(result.usage.output_tokens > 0);
    assert.ok(result.result.length > 0);
  });
});
