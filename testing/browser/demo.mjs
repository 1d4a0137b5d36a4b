// The browser test of tokengate's demo page: Debian's chromium,
// headless, driven through playwright-core (never a downloaded browser;
// common.mjs). passkeys.mjs tests the page's passkeys.
//
//   node testing/browser/demo.mjs BASE_URL ARTIFACT_DIR
//
// The service at BASE_URL must have open registration, a short access token
// lifetime (TOKENGATE_ACCESS_TOKEN_TTL of a few seconds: the silent refresh
// is tested by waiting for it) and at least one image in its files directory
// (a new one holds the service's samples).
// crates/tokengate-server/tests/service/browser_demo.rs starts it so.
// Three users: alice (memos, gallery, silent refresh, logout), bob (another
// user's data, a failed refresh) and carol (two devices: the Sessions panel
// ends the other device's login).
// Writes ARTIFACT_DIR/memos.png (the memo page) and, on failure,
// ARTIFACT_DIR/failure.png; exits 1 on any failed check.

import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { check, JWT, logIn, openPage, register, run, sessionCookies, step } from './common.mjs';

const [base, artifacts] = process.argv.slice(2);
// carol's two devices, told apart by their User-Agent.
const LAPTOP_AGENT = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36';
const PHONE_AGENT = 'Mozilla/5.0 (Android 14; Mobile; rv:131.0) Gecko/131.0 Firefox/131.0';

/** Sleeps until the access token in the context's cookie has expired;
 *  returns the cookies as they were before (the browser drops the access
 *  cookies when they expire). */
async function waitForAccessExpiry(context) {
  const before = await sessionCookies(context);
  const access = before.access_token_cookie;
  check(access, 'an access cookie to wait for');
  const { exp } = JSON.parse(Buffer.from(access.value.split('.')[1], 'base64url').toString());
  const wait = exp * 1000 - Date.now() + 1500;
  check(wait < 30_000, `the access token expires within 30 s (start the service with a short TOKENGATE_ACCESS_TOKEN_TTL), not in ${wait} ms`);
  if (wait > 0) await sleep(wait);
  return before;
}

/** Counts the page's calls of /auth/session/refresh by status. */
function watchRefreshes(page) {
  const seen = [];
  page.on('response', (response) => {
    if (new URL(response.url()).pathname === '/auth/session/refresh') seen.push(response.status());
  });
  return seen;
}

/** Fetches from inside the page (its cookies, same origin): the status. */
function fetchStatus(page, method, url) {
  return page.evaluate(async ([method, url]) => {
    const csrf = document.cookie.split('; ').find((c) => c.startsWith('csrf_access_token='));
    const headers = csrf ? { 'X-CSRF-TOKEN': csrf.split('=')[1] } : {};
    const response = await fetch(url, { method, headers, credentials: 'same-origin' });
    return response.status;
  }, [method, url]);
}

async function createMemo(page, title, body) {
  await page.getByTestId('memo-title').fill(title);
  await page.getByTestId('memo-body').fill(body);
  await page.getByTestId('memo-create').click();
  return memoNamed(page, title).waitFor().then(() => memoNamed(page, title));
}

/** A memo by id: still found while it is being edited (no title shown). */
async function memoById(page, memo) {
  const id = await memo.getAttribute('data-memo-id');
  return page.locator(`[data-testid="memo"][data-memo-id="${id}"]`);
}

function memoNamed(page, title) {
  return page.getByTestId('memo').filter({
    has: page.getByTestId('memo-title-text').getByText(title, { exact: true }),
  });
}

async function alice(browser, problems) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 720 } });
  const page = await openPage(context, problems);
  const refreshes = watchRefreshes(page);

  step('the page, with its security headers');
  const response = await page.goto(base);
  const headers = response.headers();
  check(response.status() === 200, `GET / answers 200, not ${response.status()}`);
  const csp = headers['content-security-policy'] ?? '';
  check(csp.includes("script-src 'self'") && csp.includes("frame-ancestors 'none'"), `CSP: ${csp}`);
  check(!csp.includes('unsafe-inline'), `no unsafe-inline: ${csp}`);
  check(headers['x-content-type-options'] === 'nosniff', 'nosniff');
  check(headers['referrer-policy'] === 'no-referrer', 'no-referrer');
  await page.getByTestId('login-view').waitFor();

  step('register and log in as alice');
  await register(page, 'alice');
  await logIn(page, 'alice');
  await page.getByTestId('memo-empty').waitFor();

  step('create memos (one with markup, shown as text), edit one, archive one, delete one');
  const markup = '<img src=x onerror=alert(1)> <b>not bold</b>';
  const milk = await createMemo(page, 'Buy milk', `Two litres. ${markup}`);
  check((await milk.getByTestId('memo-body-text').textContent()).includes(markup), 'markup shown as text');
  check(await milk.locator('b, img').count() === 0, 'no element made of user data');
  const bank = await memoById(page, await createMemo(page, 'Call the bank', 'About the new card'));
  await bank.getByTestId('memo-edit').click();
  await bank.getByTestId('memo-edit-body').fill('About the new card, before Friday');
  await bank.getByTestId('memo-save').click();
  await memoNamed(page, 'Call the bank').getByText('before Friday').waitFor();
  const trip = await createMemo(page, 'Plan the trip', 'Trains, not planes');
  await trip.getByTestId('memo-archive').click();
  await memoNamed(page, 'Plan the trip').and(page.locator('.archived')).waitFor();
  const scratch = await createMemo(page, 'Scratch', 'to be deleted');
  await scratch.getByTestId('memo-delete').click();
  await memoNamed(page, 'Scratch').waitFor({ state: 'detached' });

  step('reload: still logged in, memos still there');
  await page.reload();
  await page.getByTestId('app-view').waitFor();
  await memoNamed(page, 'Buy milk').waitFor();
  check(await page.getByTestId('memo').count() === 3, 'three memos after the reload');
  const memoId = await memoNamed(page, 'Buy milk').getAttribute('data-memo-id');

  step('document.cookie shows no JWT');
  const visible = await page.evaluate(() => document.cookie);
  check(!visible.includes('access_token_cookie') && !visible.includes('refresh_token_cookie'), `document.cookie: ${visible}`);
  check(!JWT.test(visible), `no JWT in document.cookie: ${visible}`);
  const cookies = await sessionCookies(context);
  check(cookies.access_token_cookie?.httpOnly && cookies.refresh_token_cookie?.httpOnly, 'the JWT cookies exist, HttpOnly');

  step('the gallery shows a signed image');
  const image = page.getByTestId('gallery-image').first();
  await image.waitFor();
  await page.waitForFunction(() => {
    const img = document.querySelector('[data-testid="gallery-image"]');
    return img && img.complete && img.naturalWidth > 0;
  });
  const src = await image.getAttribute('src');
  check(new URL(src).origin === new URL(base).origin, `same-origin image link: ${src}`);
  check(new URL(src).search !== '', `a signed link: ${src}`);
  const anonymous = await page.evaluate((url) => fetch(url, { credentials: 'omit' }).then((r) => r.status), src);
  check(anonymous === 200, `the signed link works without cookies: ${anonymous}`);

  step('an expired access token is refreshed silently');
  const expired = await waitForAccessExpiry(context);
  const before = refreshes.length;
  const milkById = await memoById(page, memoNamed(page, 'Buy milk'));
  await milkById.getByTestId('memo-edit').click();
  await milkById.getByTestId('memo-edit-title').fill('Buy oat milk');
  await milkById.getByTestId('memo-save').click();
  await memoNamed(page, 'Buy oat milk').waitFor();
  check(refreshes.slice(before).includes(200), `a refresh after the expiry: ${refreshes}`);
  check(await page.getByTestId('login-view').isHidden(), 'still logged in');
  // The browser drops the access cookie when it expires; a client that
  // still sends the expired token gets 401 token_expired: refreshed too.
  const stale = [expired.access_token_cookie, expired.csrf_access_token];
  check(stale.every(Boolean), 'the access cookies captured before the expiry');
  await context.addCookies(stale.map(({ expires, ...cookie }) => ({ ...cookie, expires: -1 })));
  const beforeStale = refreshes.length;
  await page.reload();
  await page.getByTestId('app-view').waitFor();
  await memoNamed(page, 'Buy oat milk').waitFor();
  check(refreshes.slice(beforeStale).includes(200), `a refresh for the expired token: ${refreshes}`);

  step('screenshot of the memo page');
  await page.evaluate(() => document.activeElement?.blur());
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="gallery-image"]')]
    .every((img) => img.complete && img.naturalWidth > 0));
  await page.screenshot({ path: path.join(artifacts, 'memos.png'), fullPage: true });

  step('log out: back to the login form, memos refused');
  await page.getByTestId('logout').click();
  await page.getByTestId('login-view').waitFor();
  check(await page.getByTestId('memo').count() === 0, 'no memo left on the page');
  check(await fetchStatus(page, 'GET', '/api/memos') === 401, 'GET /api/memos refused after logout');
  const left = await sessionCookies(context);
  check(!left.access_token_cookie && !left.refresh_token_cookie, `no JWT cookie left: ${Object.keys(left)}`);
  await page.reload();
  await page.getByTestId('login-view').waitFor();
  await context.close();
  return memoId;
}

async function bob(browser, problems, aliceMemo) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 720 } });
  const page = await openPage(context, problems);
  const refreshes = watchRefreshes(page);
  await page.goto(base);
  await page.getByTestId('login-view').waitFor();

  step('a second user in a second context does not see the first user\'s memo');
  await register(page, 'bob');
  await logIn(page, 'bob');
  await page.getByTestId('memo-empty').waitFor();
  check(await page.getByTestId('memo').count() === 0, 'bob sees no memo');
  const listed = await page.evaluate(() => fetch('/api/memos', { credentials: 'same-origin' }).then((r) => r.json()));
  check(Array.isArray(listed) && listed.length === 0, `bob's /api/memos: ${JSON.stringify(listed)}`);
  const deleted = await fetchStatus(page, 'DELETE', `/api/memos/${encodeURIComponent(aliceMemo)}`);
  check(deleted >= 400 && deleted < 500, `bob cannot delete alice's memo: ${deleted}`);
  await createMemo(page, 'Bob\'s memo', 'only mine');

  step('a failed refresh returns to the login form');
  await context.clearCookies({ name: 'refresh_token_cookie' });
  await waitForAccessExpiry(context);
  const before = refreshes.length;
  await page.getByTestId('memo-title').fill('Never saved');
  await page.getByTestId('memo-create').click();
  await page.getByTestId('login-view').waitFor();
  check(refreshes.slice(before).some((status) => status === 401), `a refused refresh: ${refreshes}`);
  const message = await page.getByTestId('message').textContent();
  check(/session has ended/.test(message), `the login form says why: ${message}`);
  await context.close();
}

/** Waits until the page's Sessions panel lists `count` sessions. */
function sessionCount(page, count) {
  return page.waitForFunction(
    (n) => document.querySelectorAll('[data-testid="session"]').length === n,
    count,
  );
}

async function carol(browser, problems) {
  const device = async (userAgent) => {
    const context = await browser.newContext({ viewport: { width: 1000, height: 720 }, userAgent });
    const page = await openPage(context, problems);
    await page.goto(base);
    await page.getByTestId('login-view').waitFor();
    return { context, page };
  };
  const phone = await device(PHONE_AGENT);
  const laptop = await device(LAPTOP_AGENT);

  step('one user on two devices: the laptop lists both sessions, one of them "this device"');
  await register(phone.page, 'carol');
  await logIn(phone.page, 'carol');
  await sessionCount(phone.page, 1);
  const phoneSession = await phone.page.locator('[data-testid="session"][data-current="true"]')
    .getAttribute('data-session-id');
  await logIn(laptop.page, 'carol');
  await sessionCount(laptop.page, 2);
  check(await laptop.page.getByTestId('session-current').count() === 1, 'exactly one "this device"');
  const mine = laptop.page.getByTestId('session').filter({ has: laptop.page.getByTestId('session-current') });
  const other = laptop.page.locator(`[data-testid="session"][data-session-id="${phoneSession}"]`);
  check(await mine.getAttribute('data-session-id') !== phoneSession, 'the laptop\'s own session is not the phone\'s');
  const agents = [await mine.getByTestId('session-agent').textContent(), await other.getByTestId('session-agent').textContent()];
  check(agents[0] === 'Chrome 130 on Linux' && agents[1] === 'Firefox 131 on Android', `the devices by User-Agent: ${agents}`);
  const method = await other.getByTestId('session-method').textContent();
  check(method === 'Password · 127.0.0.1', `the phone's login method and address: ${method}`);
  check(await mine.getByTestId('session-end').count() === 0, 'no End button for this device');
  check(!JWT.test(await laptop.page.content()), 'no token on the page');

  step('end the phone\'s session from the laptop: the phone is back at the login form');
  await other.getByTestId('session-end').click();
  await sessionCount(laptop.page, 1);
  await phone.page.getByTestId('memo-title').fill('Never saved');
  await phone.page.getByTestId('memo-create').click();
  await phone.page.getByTestId('login-view').waitFor();
  const message = await phone.page.getByTestId('message').textContent();
  check(/session has ended/.test(message), `the phone's login form says why: ${message}`);
  check(await phone.page.getByTestId('memo').count() === 0, 'no memo left on the phone');
  await createMemo(laptop.page, 'From the laptop', 'still logged in');
  check(await laptop.page.getByTestId('login-view').isHidden(), 'the laptop is still logged in');
  check(await laptop.page.getByTestId('session-current').count() === 1, 'the laptop lists its own session');

  step('"Log out other sessions" ends the phone\'s new login, not the laptop\'s');
  await logIn(phone.page, 'carol');
  await laptop.page.getByTestId('sessions-reload').click();
  await sessionCount(laptop.page, 2);
  await laptop.page.getByTestId('sessions-end-others').click();
  await sessionCount(laptop.page, 1);
  check(await laptop.page.getByTestId('session-current').count() === 1, 'the laptop\'s session is the one left');
  check(await laptop.page.getByTestId('sessions-end-others').isDisabled(), 'no other session to end');
  await phone.page.getByTestId('sessions-reload').click();
  await phone.page.getByTestId('login-view').waitFor();
  await laptop.page.reload();
  await memoNamed(laptop.page, 'From the laptop').waitFor();
  await sessionCount(laptop.page, 1);
  await phone.context.close();
  await laptop.context.close();
}

run('demo.mjs', async (browser, problems) => {
  const aliceMemo = await alice(browser, problems);
  await bob(browser, problems, aliceMemo);
  await carol(browser, problems);
});
