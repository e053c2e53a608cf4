// The chat UI in headless Chromium against the real gateway and simulator:
// sign-in, every transport streaming progressively, stop, resume after a
// dropped connection, token expiry, errors, and no console errors anywhere.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import * as cognito from './cognito.mjs';
import { eventually, resultsDir, startEnvironment } from './harness.mjs';

const DESKTOP = { width: 1280, height: 860 };
const PHONE = { width: 390, height: 844 };
const TRANSPORTS = ['sse', 'ws', 'graphql'];

let env;

before(async () => {
  env = await startEnvironment();
});

after(async () => {
  await env?.stop();
});

/**
 * A fresh browser context and page that records console errors and page
 * errors; `allow` lists the browser's own messages a test causes on purpose.
 */
async function open(viewport = DESKTOP, options = {}, allow = []) {
  const context = await env.browser.newContext({ viewport, ...options });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !allow.some((re) => re.test(m.text()))) problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  return {
    page,
    problems,
    async close() {
      await context.close();
      assert.deepEqual(problems, [], 'the page logged errors');
    },
  };
}

async function signIn(page, user) {
  await page.goto(env.base);
  await page.getByTestId('login-user').fill(user);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('prompt').waitFor({ state: 'visible' });
  await page.getByTestId('login-user').waitFor({ state: 'hidden' });
}

/** Record, inside the page, every status word and every length of the last answer's text. */
async function record(page) {
  await page.evaluate(() => {
    const w = { statuses: [], lengths: [] };
    window.__watch = w;
    const status = document.querySelector('[data-testid="status"]');
    const sample = () => {
      const s = status.textContent;
      if (w.statuses.at(-1) !== s) w.statuses.push(s);
      const outputs = document.querySelectorAll('[data-testid="output"]');
      const len = outputs.length ? outputs[outputs.length - 1].textContent.length : 0;
      if (w.lengths.at(-1) !== len) w.lengths.push(len);
    };
    new MutationObserver(sample).observe(document.body, { subtree: true, childList: true, characterData: true });
    sample();
  });
}

const watched = (page) => page.evaluate(() => window.__watch);

async function ask(page, transport, prompt) {
  await page.getByTestId('transport').selectOption(transport);
  await page.getByTestId('prompt').fill(prompt);
  await page.getByTestId('send').click();
}

async function waitForStatus(page, word, timeout = 15_000) {
  await page.waitForFunction(
    (w) => document.querySelector('[data-testid="status"]')?.textContent === w,
    word,
    { timeout },
  );
}

const lastOutput = (page) => page.getByTestId('output').last();
const squash = (s) => s.replace(/\s+/g, '');

async function shot(page, name) {
  await page.screenshot({ path: path.join(resultsDir, `${name}.png`), fullPage: false });
}

/** The answer on screen equals the session's text on the gateway: nothing lost, nothing twice. */
async function assertSameAsGateway(page, user) {
  const answer = page.locator('article.msg.assistant').last();
  const sessionId = await answer.getAttribute('data-session-id');
  assert.ok(sessionId, 'the answer knows its session id');
  const session = await env.session(user, sessionId);
  const shown = await lastOutput(page).textContent();
  assert.ok(session.text.length > 0);
  assert.equal(squash(shown), squash(session.text));
}

describe('sign-in', () => {
  test('a dev user signs in and sees the chat, at desktop and phone widths', async () => {
    for (const [name, viewport] of [
      ['desktop', DESKTOP],
      ['phone', PHONE],
    ]) {
      const { page, close } = await open(viewport);
      await page.goto(env.base);
      await page.getByTestId('login-user').waitFor();
      await shot(page, `signin-${name}`);
      await page.getByTestId('login-user').fill('alice');
      await page.getByTestId('login-submit').click();
      await page.getByTestId('prompt').waitFor({ state: 'visible' });
      assert.equal(await page.locator('#user-name').textContent(), 'alice');
      // The model picker lists the gateway's models (fetched after sign-in,
      // so waited for) and selects its default.
      await page.locator('#model option').first().waitFor({ state: 'attached' });
      assert.match(await page.locator('#model option:checked').textContent(), /· default$/);
      await shot(page, `empty-${name}`);
      await close();
    }
  });
});

describe('streaming', () => {
  for (const transport of TRANSPORTS) {
    test(`${transport}: the answer grows token by token, then shows done`, async () => {
      const { page, close } = await open();
      await signIn(page, 'alice');
      await record(page);
      await ask(page, transport, `[[sim tokens=40 rate=20]] Tell me about rivers, over ${transport}.`);
      await waitForStatus(page, 'done');
      const { statuses, lengths } = await watched(page);
      // Several growing samples before completion, not one jump at the end.
      const growing = lengths.filter((n) => n > 0);
      assert.ok(growing.length >= 5, `the text grew in ${growing.length} steps: ${lengths}`);
      assert.deepEqual([...growing].sort((a, b) => a - b), growing, 'the text only grows');
      assert.ok(statuses.includes('streaming'), `statuses: ${statuses}`);
      await assertSameAsGateway(page, 'alice');
      const meta = await page.locator('article.msg.assistant .meta').last().textContent();
      assert.match(meta, /TTFT \d+ ms/);
      assert.match(meta, /tok\/s/);
      assert.equal(await page.getByTestId('stop').isVisible(), false);
      await shot(page, `done-${transport}`);
      await close();
    });
  }

  test('a second turn carries the conversation and both answers complete', async () => {
    const { page, close } = await open();
    await signIn(page, 'alice');
    await ask(page, 'ws', '[[sim tokens=12]] First question.');
    await waitForStatus(page, 'done');
    await page.getByTestId('prompt').press('Enter'); // empty prompt: nothing is sent
    await page.getByTestId('prompt').fill('[[sim tokens=12]] And a follow-up.');
    await page.getByTestId('prompt').press('Enter');
    await eventually('a second answer', async () => (await page.getByTestId('output').count()) === 2);
    await waitForStatus(page, 'done');
    assert.equal(await page.locator('article.msg.user').count(), 2);
    await assertSameAsGateway(page, 'alice');
    await close();
  });
});

describe('stop', () => {
  for (const transport of TRANSPORTS) {
    test(`${transport}: stop halts the answer and cancels the upstream call`, async () => {
      const { page, close } = await open();
      await signIn(page, 'bob');
      const before = await env.simStats();
      await ask(page, transport, `[[sim tokens=400 rate=20]] A long answer to stop, over ${transport}.`);
      await eventually('some text', async () => (await lastOutput(page).textContent()).length > 20);
      await page.getByTestId('stop').click();
      await waitForStatus(page, 'stopped', 10_000);
      const stoppedAt = (await lastOutput(page).textContent()).length;
      await eventually('the simulator to see the cancel', async () => {
        const now = await env.simStats();
        return now.streamsCancelled > before.streamsCancelled;
      });
      // Nothing more arrives after the stop (at 20 tokens/s, 600 ms would add ~12).
      await page.waitForTimeout(600);
      assert.equal((await lastOutput(page).textContent()).length, stoppedAt);
      const session = await env.session('bob', await page.locator('article.msg.assistant').last().getAttribute('data-session-id'));
      assert.equal(session.status, 'cancelled');
      assert.equal(await page.getByTestId('send').isVisible(), true);
      await shot(page, `stopped-${transport}`);
      await close();
    });
  }
});

describe('resume', () => {
  for (const transport of TRANSPORTS) {
    test(`${transport}: a dropped connection resumes without duplicated or missing text`, async () => {
      // Chromium itself logs the cut response ("Failed to load resource:
      // net::ERR_INCOMPLETE_CHUNKED_ENCODING"); that line is the drop, not a fault.
      const { page, close } = await open(DESKTOP, {}, [/^Failed to load resource: net::ERR_/]);
      await signIn(page, 'carol');
      await record(page);
      await ask(page, transport, `[[sim tokens=80 rate=25]] Keep going through a drop, over ${transport}.`);
      await eventually('some text', async () => (await lastOutput(page).textContent()).length > 40);
      const cut = env.proxy.dropAll();
      assert.ok(cut > 0, 'the page had open connections to cut');
      await waitForStatus(page, 'done', 20_000);
      const { statuses } = await watched(page);
      assert.ok(statuses.includes('reconnecting'), `statuses: ${statuses}`);
      const resumes = Number(await page.locator('article.msg.assistant').last().getAttribute('data-resumes'));
      assert.ok(resumes >= 1, 'the answer says it resumed');
      assert.match(await page.locator('article.msg.assistant .meta').last().textContent(), /resumed ×\d/);
      await assertSameAsGateway(page, 'carol');
      await shot(page, `resumed-${transport}`);
      await close();
    });
  }
});

describe('errors and expiry', () => {
  test('an expired token shows the sign-in again, and signing in continues the chat', async () => {
    const { page, close } = await open();
    // The dev sign-in hands out a token that expires in 3 seconds.
    await page.route('**/v1/dev/token', async (route) =>
      route.fulfill({ json: { token: await env.token('dave', 3), expiresIn: 3 } }),
    );
    await page.goto(env.base);
    await page.getByTestId('login-user').fill('dave');
    await page.getByTestId('login-submit').click();
    await page.locator('#user-name').getByText('dave').waitFor();
    await page.getByTestId('login-user').waitFor({ state: 'visible', timeout: 8_000 });
    assert.match(await page.locator('#signin-reason').textContent(), /expired/i);
    await shot(page, 'expired');
    await page.unroute('**/v1/dev/token');
    await page.getByTestId('login-user').fill('dave');
    await page.getByTestId('login-submit').click();
    await page.getByTestId('login-user').waitFor({ state: 'hidden' });
    await ask(page, 'sse', '[[sim tokens=10]] Still there?');
    await waitForStatus(page, 'done');
    await close();
  });

  test('a token the gateway refuses (401) shows the sign-in, and signing in again carries on', async () => {
    // Chromium logs the refused request itself ("… status of 401"): that is the case under test.
    const { page, close } = await open(DESKTOP, {}, [/status of 401/]);
    const forged = (await env.token('heidi')).replace(/\.[^.]+$/, '.c2lnbmF0dXJl');
    await page.route('**/v1/dev/token', (route) => route.fulfill({ json: { token: forged, expiresIn: 3600 } }));
    await page.goto(env.base);
    await page.getByTestId('login-user').fill('heidi');
    await page.getByTestId('login-submit').click();
    // The first authenticated call (the model list) is refused: back to the sign-in.
    await eventually('the sign-in to come back', async () => (await page.locator('#signin-reason').isVisible()));
    assert.match(await page.locator('#signin-reason').textContent(), /sign in again/i);
    await page.unroute('**/v1/dev/token');
    await page.getByTestId('login-submit').click();
    await page.getByTestId('login-user').waitFor({ state: 'hidden' });
    await ask(page, 'ws', '[[sim tokens=8]] Hello again.');
    await waitForStatus(page, 'done');
    await close();
  });

  test('a throttled request shows a clear, retryable error', async () => {
    const { page, close } = await open();
    await signIn(page, 'ivan');
    await ask(page, 'ws', '[[sim throttle=100]] Everyone is asking at once.');
    await waitForStatus(page, 'error');
    const notice = page.locator('article.msg.assistant .notice.error').last();
    assert.match(await notice.textContent(), /too many requests/i);
    assert.equal(await notice.getByRole('button', { name: 'Retry' }).count(), 1);
    await close();
  });

  test('a mid-stream error is shown clearly and the chat stays usable', async () => {
    const { page, close } = await open();
    await signIn(page, 'erin');
    await ask(page, 'ws', '[[sim tokens=40 rate=50 error_after=6]] Fail halfway.');
    await waitForStatus(page, 'error');
    const notice = page.locator('article.msg.assistant .notice.error').last();
    await notice.waitFor();
    assert.match(await notice.textContent(), /broke off/);
    assert.ok((await lastOutput(page).textContent()).length > 0, 'the text before the error stays');
    await shot(page, 'error');
    // A new chat (the simulator would read the directive in the history again).
    await page.getByRole('button', { name: 'New chat' }).click();
    assert.equal(await page.getByTestId('output').count(), 0);
    await ask(page, 'graphql', '[[sim tokens=10]] And now?');
    await waitForStatus(page, 'done');
    await close();
  });

  test('model output is rendered as Markdown, and HTML in it stays text', async () => {
    const { page, close } = await open();
    await signIn(page, 'grace');
    const tokens = [
      'Here is **bold**, a [bad link](javascript:alert(1)) and ',
      '<img src=x onerror="window.__owned=1"><script>window.__owned=2</script>\n\n',
      '```js\nconst x = "<b>not bold</b>";\n```\n',
    ];
    const event = (seq, fields) =>
      `event: ${fields.isComplete ? 'done' : 'token'}\nid: ${seq}\ndata: ${JSON.stringify({ sessionId: 's-md', seq, token: '', isComplete: false, timestamp: '2026-01-01T00:00:00.000Z', ...fields })}\n\n`;
    const body = tokens.map((token, i) => event(i, { token })).join('') + event(tokens.length, { isComplete: true, stopReason: 'end_turn' });
    await page.route('**/v1/stream', (route) =>
      route.fulfill({ status: 200, headers: { 'Content-Type': 'text/event-stream', 'X-Session-Id': 's-md' }, body }),
    );
    await ask(page, 'sse', 'Show me some Markdown.');
    await waitForStatus(page, 'done');
    const md = page.locator('article.msg.assistant .md').last();
    assert.equal(await md.locator('strong').textContent(), 'bold');
    assert.equal(await md.locator('img, script').count(), 0);
    assert.match(await md.textContent(), /<img src=x/);
    assert.equal(await md.locator('a[href^="javascript"]').count(), 0);
    assert.match(await md.locator('pre code').textContent(), /const x = "<b>not bold<\/b>";/);
    assert.equal(await page.evaluate(() => window.__owned ?? null), null);
    await shot(page, 'markdown');
    await close();
  });

  test('a phone-width screen shows the whole chat', async () => {
    const { page, close } = await open(PHONE, { isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    await signIn(page, 'frank');
    await ask(page, 'sse', '[[sim tokens=60 rate=40]] Tell me about spillways on a phone.');
    await waitForStatus(page, 'done');
    assert.ok((await page.locator('article.msg.assistant .md p').count()) >= 1);
    // Nothing in the page is wider than the phone.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
    await shot(page, 'chat-phone');
    await close();
  });
});

describe('cognito', () => {
  let pool;
  let base;

  before(async () => {
    pool = await cognito.startPool();
    base = await env.startGateway('gateway-cognito', ['--auth', 'cognito'], {
      SPILLWAY_COGNITO_USER_POOL_ID: cognito.POOL_ID,
      SPILLWAY_COGNITO_CLIENT_ID: cognito.CLIENT_ID,
      SPILLWAY_JWKS_URL: pool.jwksUrl,
      SPILLWAY_COGNITO_DOMAIN: cognito.DOMAIN,
    });
  });

  after(async () => {
    await pool?.close();
  });

  test('the Hosted UI signs in with authorization code + PKCE, and the token streams', async () => {
    const { page, close } = await open();
    const seen = await pool.serveHostedUi(page, 'judy');
    const config = await (await fetch(`${base}/v1/config`)).json();
    assert.equal(config.auth, 'cognito');
    assert.equal(config.cognito.clientId, cognito.CLIENT_ID);
    await page.goto(base);
    await page.getByTestId('login-submit').click();
    await page.locator('#user-name').getByText('judy@example.com').waitFor();
    assert.equal(seen.authorize.code_challenge_method, 'S256');
    assert.equal(seen.authorize.client_id, cognito.CLIENT_ID);
    assert.equal(seen.authorize.redirect_uri, `${base}/`);
    assert.ok(seen.verified, 'the token request proved the PKCE verifier');
    assert.equal(new URL(page.url()).search, '', 'the code is removed from the address bar');
    for (const transport of TRANSPORTS) {
      await ask(page, transport, `[[sim tokens=10]] Signed in through Cognito, over ${transport}.`);
      await waitForStatus(page, 'done');
    }
    await close();
  });
});
