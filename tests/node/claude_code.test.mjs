// Claude Code, headless (`claude -p`), against the gateway's Anthropic
// Messages API: `ANTHROPIC_BASE_URL` is the gateway, `ANTHROPIC_AUTH_TOKEN`
// the JWT (sent as `Authorization: Bearer`). One plain answer, and a tool
// loop with thinking: the model calls Claude Code's own `Read` tool, Claude
// Code reads the file and sends the result back with the signed thinking
// block, and the simulator echoes the result.
//
// Claude Code is not in package.json: it is installed into its own scratch
// directory (`SPILLWAY_CLAUDE_CODE_DIR`, default a directory under the OS temp
// dir, kept between runs). The test is skipped when it cannot be installed.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { arch, platform, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { startGateway } from './gateway.mjs';

const VERSION = '2.1.197';
const DIR = process.env.SPILLWAY_CLAUDE_CODE_DIR ?? join(tmpdir(), `spillway-claude-code-${VERSION}`);

/** The `claude` executable, installing the package first when needed; `null` if it cannot be. */
function claudeBinary() {
  const modules = join(DIR, 'node_modules', '@anthropic-ai');
  // The native binary of this platform (what the package's postinstall copies
  // over its placeholder, when install scripts run).
  const native = join(modules, `claude-code-${platform()}-${arch()}`, 'claude');
  const wrapper = join(DIR, 'node_modules', '.bin', 'claude');
  const found = () => [native, wrapper].find(p => existsSync(p) && runs(p));
  if (found()) return found();
  mkdirSync(DIR, { recursive: true });
  const npm = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--prefix', DIR, `@anthropic-ai/claude-code@${VERSION}`], {
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (npm.status !== 0) return null;
  return found() ?? null;
}

function runs(bin) {
  return spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 60_000 }).status === 0;
}

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

  /** `claude -p prompt` in the scratch work dir; its JSON result. */
  function ask(prompt) {
    const out = execFileSync(
      claude,
      ['-p', prompt, '--model', 'claude-sonnet-4-5', '--max-turns', '4', '--output-format', 'json'],
      {
        cwd: work,
        encoding: 'utf8',
        timeout: 120_000,
        env: {
          PATH: process.env.PATH,
          HOME: home,
          ANTHROPIC_BASE_URL: gw.url,
          ANTHROPIC_AUTH_TOKEN: gw.token,
          DISABLE_TELEMETRY: '1',
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        },
      },
    );
    return JSON.parse(out.trim().split('\n').pop());
  }

  it('answers a prompt', () => {
    const result = ask('Say hello [[sim tokens=5 rate=0 ttft_ms=0]]');
    assert.equal(result.is_error, false, JSON.stringify(result));
    assert.equal(result.stop_reason, 'end_turn');
    assert.ok(result.result.length > 0);
    assert.ok(result.usage.output_tokens > 0);
  });

  it('runs a tool loop with thinking', () => {
    writeFileSync(join(work, 'sample'), 'hello from the sample file\n');
    const result = ask('Read the file [[sim tool=Read think=2 tokens=3 rate=0 ttft_ms=0]]');
    assert.equal(result.is_error, false, JSON.stringify(result));
    assert.equal(result.num_turns, 2);
    assert.match(result.result, /^Tool result: .*hello from the sample file/s);
  });
});
