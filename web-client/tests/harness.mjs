// The real gateway, the Bedrock simulator and headless Chromium for the UI
// tests: the simulator runs alone (so its /sim/stats can be read), the gateway
// talks to it through the real AWS SDK (`--upstream bedrock`), and the browser
// reaches the gateway through a TCP proxy that can cut every open connection.

import { spawn, execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const clientDir = path.resolve(here, '..');
const repo = path.resolve(clientDir, '..');
export const resultsDir = path.join(clientDir, 'test-results');
const BIN = process.env.SPILLWAY_BIN ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(repo, 'target'), 'debug', 'spillway');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Chromium flags for this sandboxed, offline machine (no background traffic, no GPU). */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Start `spillway ARGS`, returning the process and the URL of its first stdout line. */
async function startProcess(name, args, env) {
  await mkdir(resultsDir, { recursive: true });
  const log = createWriteStream(path.join(resultsDir, `${name}.log`));
  const child = spawn(BIN, args, {
    env: { ...cleanEnv(), RUST_LOG: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr.pipe(log);
  const lines = readline.createInterface({ input: child.stdout });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 20 s`)), 20_000);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code} before listening (see ${log.path})`)));
    lines.once('line', (line) => {
      clearTimeout(timer);
      const m = /listening on (http:\/\/\S+)/.exec(line);
      if (m) resolve(m[1]);
      else reject(new Error(`${name} printed ${JSON.stringify(line)} instead of its address`));
    });
  });
  lines.on('line', (line) => log.write(`${line}\n`));
  return { child, url };
}

/** The environment less anything that could point the gateway at real AWS. */
function cleanEnv() {
  const env = { ...process.env };
  for (const k of Object.keys(env)) {
    if (k.startsWith('SPILLWAY_') || k.startsWith('AWS_')) delete env[k];
  }
  return env;
}

/** A TCP proxy in front of `target` whose `dropAll()` cuts every open connection. */
async function startProxy(target) {
  const { hostname, port } = new URL(target);
  const sockets = new Set();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port), hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    /** Cut every connection now, as a network drop would. */
    dropAll() {
      const n = sockets.size;
      for (const s of sockets) s.destroy();
      return n;
    },
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

export async function startEnvironment() {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'spillway-web-'));
  const sim = await startProcess('sim', ['sim', '--listen', '127.0.0.1:0'], {});
  const processes = [sim];
  /** A gateway on an ephemeral port whose upstream is the simulator, through the real AWS SDK. */
  const startGateway = async (name, args = [], env = {}) => {
    const p = await startProcess(name, ['serve', '--listen', '127.0.0.1:0', '--upstream', 'bedrock', ...args], {
      SPILLWAY_DATA_DIR: dataDir,
      // Expiry is exact, so a 2-second token is refused after 2 seconds.
      SPILLWAY_JWT_LEEWAY_SECS: '0',
      SPILLWAY_HEARTBEAT_SECS: '1',
      SPILLWAY_DRAIN_SECS: '2',
      AWS_ENDPOINT_URL_BEDROCK_RUNTIME: sim.url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'not-a-real-secret',
      AWS_EC2_METADATA_DISABLED: 'true',
      ...env,
    });
    processes.push(p);
    return p.url;
  };
  const gateway = { url: await startGateway('gateway') };
  const proxy = await startProxy(gateway.url);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });

  const run = promisify(execFile);
  return {
    /** The page's origin: the proxy in front of the gateway. */
    base: proxy.url,
    gateway: gateway.url,
    sim: sim.url,
    proxy,
    browser,
    startGateway,
    /** `spillway token` with the gateway's data dir. */
    async token(sub, ttlSecs = 600) {
      const { stdout } = await run(BIN, ['token', '--sub', sub, '--ttl', String(ttlSecs)], {
        env: { ...cleanEnv(), SPILLWAY_DATA_DIR: dataDir },
      });
      return stdout.trim();
    },
    async simStats() {
      const res = await fetch(`${sim.url}/sim/stats`);
      return res.json();
    },
    /** `GET /v1/sessions/{id}` as `sub`. */
    async session(sub, id) {
      const res = await fetch(`${gateway.url}/v1/sessions/${id}`, {
        headers: { Authorization: `Bearer ${await this.token(sub)}` },
      });
      if (!res.ok) throw new Error(`GET /v1/sessions/${id}: ${res.status}`);
      return res.json();
    },
    async stop() {
      await browser.close().catch(() => {});
      await proxy.close();
      for (const p of processes) {
        p.child.kill('SIGTERM');
      }
      await Promise.all(
        processes.map(
          (p) =>
            new Promise((resolve) => {
              if (p.child.exitCode !== null) return resolve();
              const kill = setTimeout(() => p.child.kill('SIGKILL'), 5_000);
              p.child.once('exit', () => {
                clearTimeout(kill);
                resolve();
              });
            }),
        ),
      );
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Poll `check` until it returns a truthy value, or fail after `ms`. */
export async function eventually(what, check, ms = 10_000) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
