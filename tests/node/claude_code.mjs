// Claude Code for the tests that run it headless (`claude -p`): installing
// the pinned version into its own scratch directory and running it in a
// scratch work dir with a scratch `HOME` and telemetry off.
//
// Claude Code is not in package.json: it is installed into
// `SPILLWAY_CLAUDE_CODE_DIR` (default a directory under the OS temp dir, kept
// between runs). `claudeBinary()` is `null` when it cannot be installed; the
// tests are then skipped.

import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { arch, platform, tmpdir } from 'node:os';
import { join } from 'node:path';

export const VERSION = '2.1.197';
const DIR = process.env.SPILLWAY_CLAUDE_CODE_DIR ?? join(tmpdir(), `spillway-claude-code-${VERSION}`);

/** The `claude` executable, installing the package first when needed; `null` if it cannot be. */
export function claudeBinary() {
  const installed = binaryIn(DIR);
  if (installed) return installed;
  // Installed into a directory of this process's own, then moved into place:
  // the test files run in parallel processes, and may install at once.
  const staging = `${DIR}.${process.pid}`;
  mkdirSync(staging, { recursive: true });
  const npm = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--prefix', staging, `@anthropic-ai/claude-code@${VERSION}`], {
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (npm.status !== 0 || !binaryIn(staging)) {
    rmSync(staging, { recursive: true, force: true });
    return null;
  }
  try {
    renameSync(staging, DIR);
  } catch {
    // Another process got there first (or a broken install is in the way).
    const theirs = binaryIn(DIR);
    if (theirs) {
      rmSync(staging, { recursive: true, force: true });
      return theirs;
    }
    return binaryIn(staging);
  }
  return binaryIn(DIR);
}

/** The runnable `claude` in an install directory, or `undefined`. */
function binaryIn(dir) {
  // The native binary of this platform (what the package's postinstall copies
  // over its placeholder, when install scripts run), else the npm wrapper.
  const native = join(dir, 'node_modules', '@anthropic-ai', `claude-code-${platform()}-${arch()}`, 'claude');
  const wrapper = join(dir, 'node_modules', '.bin', 'claude');
  return [native, wrapper].find(p => existsSync(p) && runs(p));
}

function runs(bin) {
  return spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 60_000 }).status === 0;
}

/**
 * `claude -p prompt …args` in `cwd` with `HOME` = `home`, telemetry and
 * nonessential traffic off, and nothing else from this process's
 * environment but `PATH` and `env`. Resolves with its JSON result (the last
 * line of `--output-format json`). Asynchronous, so that servers in this
 * process keep serving while it runs.
 */
export function runClaude(claude, { prompt, args = [], cwd, home, env = {} }) {
  return new Promise((resolve, reject) => {
    execFile(
      claude,
      ['-p', prompt, ...args, '--output-format', 'json'],
      {
        cwd,
        encoding: 'utf8',
        timeout: 120_000,
        maxBuffer: 16 * 1024 * 1024,
        env: {
          PATH: process.env.PATH,
          HOME: home,
          DISABLE_TELEMETRY: '1',
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
          ...env,
        },
      },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`claude failed: ${err.message}\nstdout: ${stdout}\nstderr: ${stderr}`));
          return;
        }
        resolve(JSON.parse(stdout.trim().split('\n').pop()));
      },
    );
  });
}
