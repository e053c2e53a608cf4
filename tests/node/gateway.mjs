// Starts the real binaries for the tests: `spillway sim` (so its stats can be
// read) and `spillway serve --upstream bedrock` pointed at it, with a dev token
// minted by `spillway token` from the same temporary data dir.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const REPO = resolve(import.meta.dirname, '..', '..');
/** `SPILLWAY_BIN`, else the debug build in cargo's target dir (`CARGO_TARGET_DIR` when set). */
export const BINARY =
  process.env.SPILLWAY_BIN ?? join(resolve(REPO, process.env.CARGO_TARGET_DIR ?? 'target'), 'debug', 'spillway');
export const CLAUDE = 'anthropic.claude-3-haiku-20240307-v1:0';
/** A model that thinks on request (`reasoning.budgetTokens`). */
export const THINKING = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';

function cleanEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('SPILLWAY_') && !k.startsWith('AWS_')) env[k] = v;
  }
  return { ...env, ...extra };
}

/** Spawn `args` and resolve with the URL its first stdout line announces after `prefix`. */
function start(args, env, prefix) {
  const child = spawn(BINARY, args, { env, stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`${args[0]} printed nothing within 30 s`));
    }, 30_000);
    child.once('error', reject);
    createInterface({ input: child.stdout }).once('line', line => {
      clearTimeout(timer);
      if (!line.startsWith(prefix)) {
        child.kill();
        reject(new Error(`unexpected first line: ${line}`));
      } else {
        resolveUrl({ child, url: line.slice(prefix.length).trim() });
      }
    });
  });
}

/**
 * A simulator and a gateway in front of it. `env` adds gateway settings
 * (for example `SPILLWAY_CANCEL_GRACE_SECS`).
 */
export async function startGateway(env = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'spillway-node-'));
  const sim = await start(['sim', '--listen', '127.0.0.1:0'], cleanEnv({}), 'spillway sim listening on ');
  const gwEnv = cleanEnv({
    SPILLWAY_DATA_DIR: dataDir,
    AWS_ENDPOINT_URL_BEDROCK_RUNTIME: sim.url,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'x',
    AWS_SECRET_ACCESS_KEY: 'x',
    ...env,
  });
  let gw;
  try {
    gw = await start(['serve', '--listen', '127.0.0.1:0', '--upstream', 'bedrock'], gwEnv, 'spillway listening on ');
  } catch (e) {
    sim.child.kill();
    throw e;
  }
  const mint = (ttlSecs = 3600) =>
    execFileSync(BINARY, ['token', '--sub', 'alice', '--ttl', String(ttlSecs)], { env: gwEnv, encoding: 'utf8' }).trim();
  const token = mint();
  return {
    url: gw.url,
    simUrl: sim.url,
    token,
    /** Another token of alice's, valid for `ttlSecs`. */
    mint,
    auth: { Authorization: `Bearer ${token}` },
    async simStats() {
      return (await fetch(`${sim.url}/sim/stats`)).json();
    },
    async session(id) {
      return (await fetch(`${gw.url}/v1/sessions/${id}`, { headers: this.auth })).json();
    },
    async stop() {
      for (const c of [gw.child, sim.child]) {
        const exited = new Promise(r => c.once('exit', r));
        c.kill('SIGTERM');
        await Promise.race([exited, new Promise(r => setTimeout(r, 10_000).unref())]);
        c.kill('SIGKILL');
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Poll `check` until it returns a truthy value; fail after `ms`. */
export async function eventually(check, ms = 10_000, what = 'condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise(r => setTimeout(r, 20));
  }
}

/** Reject if `promise` takes longer than `ms`. */
export function within(promise, ms = 30_000, what = 'the stream') {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** A user message as `useChat` sends it. */
export function userMessage(text) {
  return { id: `m-${crypto.randomUUID()}`, role: 'user', parts: [{ type: 'text', text }] };
}

/** A prompt no other test uses, with a simulator directive. */
export function prompt(directive) {
  return `Tell me about rivers (${crypto.randomUUID()}). [[sim ${directive}]]`;
}
