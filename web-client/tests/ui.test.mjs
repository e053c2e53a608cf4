// The chat UI in headless Chromium against the real gateway and simulator:
// sign-in, every transport streaming progressively, stop, resume after a
// dropped connection, token expiry, errors, parts (reasoning, the demo tool
// loop, image attachments), and no console errors anywhere.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import zlib from 'node:zlib';

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

// ---- parts: reasoning, tool calls, attachments ----

/** Every stream request the page sends: SSE `POST /v1/stream` bodies and WebSocket `stream` actions. */
function captureStreamRequests(page) {
  const seen = [];
  page.on('request', (r) => {
    if (r.method() === 'POST' && new URL(r.url()).pathname === '/v1/stream') seen.push(r.postDataJSON());
  });
  page.on('websocket', (ws) =>
    ws.on('framesent', (f) => {
      try {
        const m = JSON.parse(String(f.payload));
        if (m.action === 'stream') seen.push(m);
      } catch {
        // not JSON: not ours
      }
    }),
  );
  return seen;
}

/** Wait until `n` answers are on screen and the last has ended; returns their locator. */
async function waitForAnswers(page, n, timeout = 20_000) {
  await page.waitForFunction(
    (n) => {
      const answers = document.querySelectorAll('article.msg.assistant');
      return answers.length >= n && answers[answers.length - 1].dataset.outcome !== undefined;
    },
    n,
    { timeout },
  );
  const answers = page.locator('article.msg.assistant');
  assert.equal(await answers.count(), n, 'answers on screen');
  return answers;
}

/** A `w`×`h` RGB PNG, made here (CRC-32 by hand: Node 20's zlib has none). */
function png(w, h) {
  const table = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = table[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc(body), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const rows = Buffer.alloc((w * 3 + 1) * h, 0x80);
  for (let y = 0; y < h; y++) rows[y * (w * 3 + 1)] = 0; // filter: none
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Paste `bytes` into the composer as an image file, as a browser's clipboard would. */
async function pasteImage(page, bytes, name) {
  await page.getByTestId('prompt').evaluate(
    (textarea, [b64, name]) => {
      const bin = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const data = new DataTransfer();
      data.items.add(new File([bin], name, { type: 'image/png' }));
      textarea.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
    },
    [bytes.toString('base64'), name],
  );
}

describe('parts', () => {
  test('reasoning shows as a collapsible block above the answer, and the next turn replays it', async () => {
    const { page, close } = await open();
    await signIn(page, 'olivia');
    await ask(page, 'sse', '[[sim think=3 tokens=20]] Think it over, then answer.');
    const answer = page.locator('article.msg.assistant').last();
    const block = answer.getByTestId('reasoning');
    await block.waitFor();
    await waitForAnswers(page, 1);
    assert.equal(await answer.getAttribute('data-outcome'), 'done');
    // Above the text, folded once the text started, and it opens and closes.
    const above = await block.evaluate((d) => !!(d.compareDocumentPosition(d.closest('.bubble').querySelector('[data-testid="output"]')) & Node.DOCUMENT_POSITION_FOLLOWING));
    assert.ok(above, 'the reasoning comes before the answer text');
    assert.equal(await block.evaluate((d) => d.open), false, 'folded once the answer text began');
    assert.equal(await block.getByTestId('reasoning-text').isVisible(), false);
    await block.locator('summary').click();
    assert.equal(await block.evaluate((d) => d.open), true);
    const thought = await block.getByTestId('reasoning-text').textContent();
    assert.ok(thought.trim().length > 0, 'the reasoning has text');
    assert.ok(!(await lastOutput(page).textContent()).includes(thought.trim()), 'the reasoning is not in the answer text');
    await shot(page, 'reasoning');
    await block.locator('summary').click();
    assert.equal(await block.evaluate((d) => d.open), false);
    await assertSameAsGateway(page, 'olivia');
    // The second turn replays the reasoning with its signature; the simulator refuses one it did not issue.
    const requests = captureStreamRequests(page);
    await ask(page, 'sse', 'And one more thing.');
    const answers = await waitForAnswers(page, 2);
    assert.equal(await answers.nth(1).getAttribute('data-outcome'), 'done');
    const replayed = requests[0].messages[1];
    assert.equal(replayed.role, 'assistant');
    const reasoning = replayed.content.find((p) => p.type === 'reasoning');
    assert.ok(reasoning?.signature, 'the reasoning went back with its signature');
    assert.equal(squash(reasoning.text), squash(thought));
    await close();
  });

  for (const transport of TRANSPORTS) {
    test(`${transport}: the demo tool loop runs roll_dice in the page and streams the follow-up`, async () => {
      const { page, close } = await open();
      await signIn(page, 'pat');
      const requests = captureStreamRequests(page);
      await page.getByTestId('tools-toggle').check();
      await ask(page, transport, `[[sim tool=roll_dice]] Roll a die for me, over ${transport}.`);
      const call = page.locator('article.msg.assistant').first().getByTestId('tool-call');
      await call.waitFor();
      const answers = await waitForAnswers(page, 2);
      // The call: its name, its whole input as pretty JSON, then its result.
      assert.equal(await call.getByTestId('tool-name').textContent(), 'roll_dice');
      const input = await call.getByTestId('tool-input').textContent();
      assert.deepEqual(JSON.parse(input), { sides: 1 });
      assert.match(input, /\n {2}"sides": 1\n/, 'pretty-printed');
      assert.equal(await call.getAttribute('data-state'), 'done');
      const result = '{"sides":1,"roll":1}';
      assert.match(await call.getByTestId('tool-result').textContent(), /Result\s*\{"sides":1,"roll":1\}/);
      assert.match(await answers.first().locator('.chip.state').textContent(), /tool use/);
      // The follow-up answer got the result.
      assert.equal(await answers.nth(1).getAttribute('data-outcome'), 'done');
      const followUp = await answers.nth(1).getByTestId('output').textContent();
      assert.ok(followUp.startsWith(`Tool result: ${result}`), `the follow-up begins: ${followUp.slice(0, 60)}`);
      assert.equal(await page.locator('article.msg.user').count(), 1, 'the tool results are no user bubble');
      await shot(page, `tool-loop-${transport}`);
      if (transport === 'graphql') return close(); // its requests are GraphQL's shapes, checked by the gateway's tests
      // The requests: the tool offered, then the conversation with the call and its result.
      assert.equal(requests.length, 2);
      assert.deepEqual(requests[0].tools.map((t) => t.name), ['roll_dice']);
      const [user, assistant, results] = requests[1].messages;
      assert.equal(user.role, 'user');
      assert.equal(assistant.role, 'assistant');
      const sent = assistant.content.find((p) => p.type === 'toolCall');
      assert.equal(sent.name, 'roll_dice');
      assert.deepEqual(sent.input, { sides: 1 });
      assert.deepEqual(results, { role: 'user', content: [{ type: 'toolResult', toolCallId: sent.id, content: result }] });
      assert.equal(requests[1].prompt, undefined);
      await close();
    });
  }

  test('images picked and pasted show as thumbnails and reach the model as image parts', async () => {
    const { page, close } = await open();
    await signIn(page, 'quinn');
    const requests = captureStreamRequests(page);
    const small = png(2, 3);
    await page.getByTestId('attach-input').setInputFiles({ name: 'small.png', mimeType: 'image/png', buffer: small });
    await pasteImage(page, png(4, 5), 'pasted.png');
    // One more, removed again before sending.
    await page.getByTestId('attach-input').setInputFiles({ name: 'gone.png', mimeType: 'image/png', buffer: png(1, 1) });
    const composer = page.getByTestId('attachments');
    await eventually('three thumbnails', async () => (await composer.getByTestId('thumbnail').count()) === 3);
    await composer.getByRole('button', { name: 'Remove gone.png' }).click();
    assert.equal(await composer.getByTestId('thumbnail').count(), 2);
    assert.match(await composer.getByTestId('thumbnail').first().getAttribute('src'), /^data:image\/png;base64,/);
    await shot(page, 'attachments-composer');
    await ask(page, 'sse', 'What is in these pictures?');
    const [answer] = await (await waitForAnswers(page, 1)).all();
    assert.equal(await answer.getAttribute('data-outcome'), 'done', await answer.textContent());
    assert.equal(await composer.isVisible(), false, 'the composer is emptied');
    assert.equal(await page.locator('article.msg.user').getByTestId('thumbnail').count(), 2);
    const text = await lastOutput(page).textContent();
    assert.ok(text.includes('[image/png 2x3]'), `the answer names the image: ${text.slice(0, 80)}`);
    assert.ok(text.includes('[image/png 4x5]'), `the answer names the pasted image: ${text.slice(0, 80)}`);
    const turn = requests[0].messages.at(-1);
    assert.equal(turn.role, 'user');
    assert.deepEqual(turn.content, [
      { type: 'image', mediaType: 'image/png', data: small.toString('base64') },
      { type: 'image', mediaType: 'image/png', data: png(4, 5).toString('base64') },
      { type: 'text', text: 'What is in these pictures?' },
    ]);
    await shot(page, 'attachments-sent');
    await close();
  });

  test('an image over the size limit, or a file that is no image, is refused with a clear message', async () => {
    const { page, close } = await open();
    await signIn(page, 'rosa');
    const big = Buffer.alloc(4_000_000);
    png(1, 1).copy(big);
    const input = page.getByTestId('attach-input');
    await input.setInputFiles({ name: 'huge.png', mimeType: 'image/png', buffer: big });
    const error = page.getByTestId('attach-error');
    await error.waitFor();
    assert.match(await error.textContent(), /huge\.png is 4 MB; an image can be at most 3\.75 MB/);
    await input.setInputFiles({ name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('just some text') });
    await eventually('the second refusal', async () => /notes\.png is not a PNG, JPEG, GIF or WebP image/.test(await error.textContent()));
    assert.equal(await page.getByTestId('thumbnail').count(), 0);
    await close();
  });

  test('a scripted SSE answer: reasoning, a tool call, its result, a citation, and the exact replay', async () => {
    const { page, close } = await open();
    await signIn(page, 'sam');
    await page.getByTestId('tools-toggle').check();
    const bodies = [];
    const event = (name, seq, fields) =>
      `event: ${name}\nid: ${seq}\ndata: ${JSON.stringify({ sessionId: `s-tool-${bodies.length}`, seq, token: '', isComplete: false, timestamp: '2026-01-01T00:00:00.000Z', ...fields })}\n\n`;
    const script = (events) => events.map(([name, fields], seq) => event(name, seq, fields)).join('');
    await page.route('**/v1/stream', (route) => {
      bodies.push(route.request().postDataJSON());
      const body =
        bodies.length === 1
          ? script([
              ['reasoning', { part: { type: 'reasoning', index: 0, text: 'The user wants ' } }],
              ['reasoning', { part: { type: 'reasoning', index: 0, text: 'a d6.' } }],
              ['reasoning', { part: { type: 'reasoning', index: 0, signature: 'sig-abc' } }],
              ['token', { token: 'Rolling ' }],
              ['token', { token: 'now.' }],
              ['tool', { part: { type: 'toolCall', index: 2, id: 'call-1', name: 'roll_dice' } }],
              ['tool', { part: { type: 'toolCall', index: 2, inputDelta: '{"si' } }],
              ['tool', { part: { type: 'toolCall', index: 2, inputDelta: 'des": 6}' } }],
              ['tool', { part: { type: 'toolCall', index: 2, id: 'call-1', name: 'roll_dice', input: { sides: 6 } } }],
              ['done', { isComplete: true, stopReason: 'tool_use' }],
            ])
          : script([
              ['token', { token: 'You rolled it.' }],
              ['citation', { part: { type: 'citation', index: 1, title: 'Dice', source: 'https://example.com/dice' } }],
              ['done', { isComplete: true, stopReason: 'end_turn' }],
            ]);
      return route.fulfill({ status: 200, headers: { 'Content-Type': 'text/event-stream', 'X-Session-Id': `s-tool-${bodies.length}` }, body });
    });
    await ask(page, 'sse', 'Roll a d6.');
    const answers = await waitForAnswers(page, 2);
    const first = answers.first();
    assert.equal((await first.getByTestId('output').textContent()).trim(), 'Rolling now.');
    assert.equal(await first.getByTestId('reasoning').evaluate((d) => d.open), false);
    assert.equal(await first.getByTestId('reasoning-text').textContent(), 'The user wants a d6.');
    const call = first.getByTestId('tool-call');
    assert.equal(await call.getByTestId('tool-input').textContent(), '{\n  "sides": 6\n}');
    const result = JSON.parse((await call.getByTestId('tool-result').locator('pre').textContent()));
    assert.equal(result.sides, 6);
    assert.ok(result.roll >= 1 && result.roll <= 6, `a roll of a d6: ${result.roll}`);
    assert.equal(await answers.nth(1).getByTestId('citations').locator('a').getAttribute('href'), 'https://example.com/dice');
    assert.equal(bodies.length, 2);
    assert.deepEqual(bodies[1].messages, [
      { role: 'user', content: 'Roll a d6.' },
      {
        role: 'assistant',
        content: [
          { type: 'reasoning', text: 'The user wants a d6.', signature: 'sig-abc' },
          { type: 'text', text: 'Rolling now.' },
          { type: 'toolCall', id: 'call-1', name: 'roll_dice', input: { sides: 6 } },
        ],
      },
      { role: 'user', content: [{ type: 'toolResult', toolCallId: 'call-1', content: JSON.stringify(result) }] },
    ]);
    assert.deepEqual(bodies[1].tools.map((t) => t.name), ['roll_dice']);
    await waitForStatus(page, 'done');
    await shot(page, 'tool-scripted');
    await close();
  });

  test('a scripted WebSocket answer: reasoning folds when the tool call starts, whose input shows as it streams', async () => {
    const { page, close } = await open();
    await signIn(page, 'tess');
    await page.getByTestId('tools-toggle').check();
    // A stand-in for /v1/ws that sends each event when the test says so.
    const actions = [];
    let socket;
    let waiting = null;
    await page.routeWebSocket('**/v1/ws', (ws) => {
      socket = ws;
      ws.onMessage((m) => {
        const msg = JSON.parse(String(m));
        if (msg.action !== 'stream') return;
        actions.push(msg);
        waiting?.();
      });
      ws.send(JSON.stringify({ type: 'connected', connectionId: 'c-1' }));
    });
    const nextAction = (n) => (actions.length >= n ? Promise.resolve() : new Promise((r) => (waiting = () => actions.length >= n && r())));
    let seq = 0;
    const send = (type, fields) =>
      socket.send(
        JSON.stringify({ type, requestId: actions.at(-1).requestId, sessionId: `s-ws-${actions.length}`, seq: seq++, token: '', isComplete: false, timestamp: '2026-01-01T00:00:00.000Z', ...fields }),
      );
    const answer = page.locator('article.msg.assistant').first();
    const reasoning = answer.getByTestId('reasoning');
    const input = answer.getByTestId('tool-input');
    const shows = (locator, text) => locator.filter({ hasText: text }).waitFor();

    await ask(page, 'ws', 'Roll a d20.');
    await nextAction(1);
    socket.send(JSON.stringify({ type: 'started', requestId: actions[0].requestId, sessionId: 's-ws-1', model: null }));
    send('reasoning', { part: { type: 'reasoning', index: 0, text: 'A d20, then.' } });
    await shows(reasoning.getByTestId('reasoning-text'), 'A d20, then.');
    assert.equal(await reasoning.evaluate((d) => d.open), true, 'open while it streams');
    assert.equal(await reasoning.locator('summary').textContent(), 'Thinking…');
    send('reasoning', { part: { type: 'reasoning', index: 0, signature: 'sig-ws' } });
    send('tool', { part: { type: 'toolCall', index: 1, id: 'call-ws', name: 'roll_dice' } });
    send('tool', { part: { type: 'toolCall', index: 1, inputDelta: '{"sides"' } });
    await shows(input, '{"sides"');
    assert.equal(await input.textContent(), '{"sides"', 'the input as it streams');
    assert.equal(await reasoning.evaluate((d) => d.open), false, 'folded once the call started');
    assert.equal(await reasoning.locator('summary').textContent(), 'Reasoning');
    assert.equal(await answer.getByTestId('tool-call').getAttribute('data-state'), 'calling');
    send('tool', { part: { type: 'toolCall', index: 1, inputDelta: ': 20}' } });
    await shows(input, '{"sides": 20}');
    send('tool', { part: { type: 'toolCall', index: 1, id: 'call-ws', name: 'roll_dice', input: { sides: 20 } } });
    await shows(input, '{\n  "sides": 20\n}');
    send('done', { isComplete: true, stopReason: 'tool_use' });
    // The page runs the tool and sends the follow-up on its own.
    await nextAction(2);
    const result = JSON.parse(await answer.getByTestId('tool-result').locator('pre').textContent());
    assert.equal(result.sides, 20);
    assert.deepEqual(actions[1].messages.at(-1), { role: 'user', content: [{ type: 'toolResult', toolCallId: 'call-ws', content: JSON.stringify(result) }] });
    assert.deepEqual(actions[1].messages[1].content[0], { type: 'reasoning', text: 'A d20, then.', signature: 'sig-ws' });
    seq = 0;
    socket.send(JSON.stringify({ type: 'started', requestId: actions[1].requestId, sessionId: 's-ws-2', model: null }));
    send('token', { token: `Tool result: ${JSON.stringify(result)}` });
    send('done', { isComplete: true, stopReason: 'end_turn' });
    const answers = await waitForAnswers(page, 2);
    assert.match(await answers.nth(1).getByTestId('output').textContent(), /^Tool result: /);
    await waitForStatus(page, 'done');
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
