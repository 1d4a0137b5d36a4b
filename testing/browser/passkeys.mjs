// The browser test of the demo page's passkeys (WebAuthn): Debian's
// chromium, headless, with the DevTools protocol's virtual authenticators
// (one per page: CTAP2, internal, resident keys, user verification).
//
//   node testing/browser/passkeys.mjs BASE_URL ARTIFACT_DIR
//
// BASE_URL is the service (http://127.0.0.1:PORT); the page is opened at
// http://localhost:PORT, the default relying party (browsers refuse an IP
// address as an rp id). The service must have open registration and an
// access token lifetime longer than the run (a fresh login must stay fresh
// while a passkey is removed). crates/tokengate-server/tests/service/
// browser_demo.rs starts it so.
// One user, dave, on two devices: a laptop (this chromium's own WebAuthn
// JSON helpers) and a phone (an "older browser" without them: the page's
// own base64url conversion).
// On failure writes ARTIFACT_DIR/failure.png; exits 1 on any failed check.

import { check, JWT, logIn, openPage, register, run, sessionCookies, step } from './common.mjs';

const VIEWPORT = { width: 1000, height: 720 };

/** The page's origin: the service's port at localhost. */
function localhost(base) {
  const url = new URL(base);
  url.hostname = 'localhost';
  return url.origin;
}

/** A virtual authenticator for `page`, like a laptop's or phone's built-in
 *  one; `credentials()` lists what it holds. */
async function virtualAuthenticator(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return {
    credentials: async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials,
  };
}

/** Every answer of the service's passkey routes (and the refresh), in order. */
function watchPasskeyCalls(page) {
  const seen = [];
  page.on('response', (response) => {
    const { pathname } = new URL(response.url());
    if (pathname.startsWith('/auth/passkeys') || pathname === '/auth/session/refresh') {
      seen.push({ method: response.request().method(), path: pathname, status: response.status() });
    }
  });
  return seen;
}

const shown = (calls) => calls.map(({ method, path, status }) => `${method} ${path} ${status}`).join(', ');

/** Fetches from inside the page (its cookies, same origin): status and JSON. */
function fetchJson(page, method, url) {
  return page.evaluate(async ([method, url]) => {
    const csrf = document.cookie.split('; ').find((c) => c.startsWith('csrf_access_token='));
    const headers = csrf ? { 'X-CSRF-TOKEN': csrf.split('=')[1] } : {};
    const response = await fetch(url, { method, headers, credentials: 'same-origin' });
    return { status: response.status, body: await response.json().catch(() => null) };
  }, [method, url]);
}

function passkeyNamed(page, name) {
  return page.getByTestId('passkey').filter({
    has: page.getByTestId('passkey-name-text').getByText(name, { exact: true }),
  });
}

/** Waits until the page's Passkeys panel lists `count` passkeys. */
function passkeyCount(page, count) {
  return page.waitForFunction(
    (n) => document.querySelectorAll('[data-testid="passkey"]').length === n,
    count,
  );
}

/** The page's message once it says `pattern`. */
async function message(page, pattern) {
  const node = page.getByTestId('message').filter({ hasText: pattern });
  await node.waitFor();
  return node.textContent();
}

/** Fills the name and clicks "Add a passkey"; returns the creation
 *  options the service sent. */
async function addPasskey(page, name) {
  await page.getByTestId('passkey-name').fill(name);
  const started = page.waitForResponse((r) => new URL(r.url()).pathname === '/auth/passkeys/register/start');
  await page.getByTestId('passkey-add').click();
  const response = await started;
  check(response.status() === 200, `register/start answered ${response.status()}`);
  return (await response.json()).publicKey;
}

async function logOut(page) {
  await page.getByTestId('logout').click();
  await page.getByTestId('login-view').waitFor();
}

/** Clicks "Log in with a passkey" with `username` (or none) and no
 *  password; returns the request options the service sent. */
async function passkeyLogin(page, username) {
  await page.getByTestId('username').fill(username);
  await page.getByTestId('password').fill('');
  const started = page.waitForResponse((r) => new URL(r.url()).pathname === '/auth/passkeys/login/start');
  await page.getByTestId('passkey-login').click();
  const response = await started;
  const request = response.request().postDataJSON();
  check(username ? request?.username === username : !request?.username, `login/start with ${username || 'no username'}: ${JSON.stringify(request)}`);
  const options = response.ok() ? (await response.json()).publicKey : null;
  // The page's handler is done when its button works again.
  await page.waitForFunction(() => !document.querySelector('[data-testid="passkey-login"]').disabled);
  return options;
}

/** The page's message after a failed passkey login: an error, and the
 *  login form still there. */
async function refusedLogin(page, context) {
  const text = await page.getByTestId('message').textContent();
  check(await page.getByTestId('message').evaluate((node) => node.classList.contains('error') && !node.hidden), `an error message: ${text}`);
  check(await page.getByTestId('login-view').isVisible() && await page.getByTestId('app-view').isHidden(), 'still at the login form');
  check(!(await sessionCookies(context)).access_token_cookie, 'no session cookie');
  return text;
}

/** After a successful passkey login: the app as `username`, the cookie
 *  session (HttpOnly JWT cookies), and the Sessions panel's method. */
async function loggedInWithPasskey(page, context, username) {
  await page.getByTestId('app-view').waitFor();
  const user = await page.getByTestId('current-user').textContent();
  check(user === username, `logged in as ${username}, the page says ${user}`);
  const cookies = await sessionCookies(context);
  check(cookies.access_token_cookie?.httpOnly && cookies.refresh_token_cookie?.httpOnly, 'a cookie session with HttpOnly JWT cookies');
  check(!JWT.test(await page.evaluate(() => document.cookie)), 'no JWT in document.cookie');
  const current = page.locator('[data-testid="session"][data-current="true"]');
  await current.waitFor();
  const method = await current.getByTestId('session-method').textContent();
  check(/^Passkey( · |$)/.test(method), `the Sessions panel shows the login's method: ${method}`);
}

async function scenario(browser, problems, base) {
  const origin = localhost(base);

  const laptop = await browser.newContext({ viewport: VIEWPORT });
  const page = await openPage(laptop, problems);
  const calls = watchPasskeyCalls(page);
  const authenticator = await virtualAuthenticator(laptop, page);

  step(`the page at ${origin} offers passkeys`);
  await page.goto(`${origin}/`);
  await page.getByTestId('login-view').waitFor();
  await page.getByTestId('passkey-login').waitFor();
  const native = await page.evaluate(() => typeof PublicKeyCredential.parseCreationOptionsFromJSON === 'function'
    && typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function'
    && typeof PublicKeyCredential.prototype.toJSON === 'function');
  step(`  (this chromium's own WebAuthn JSON helpers: ${native ? 'yes' : 'no, the page converts'})`);

  step('register dave with a password and log in: no passkeys yet');
  await register(page, 'dave');
  await logIn(page, 'dave');
  await page.getByTestId('passkey-empty').waitFor();
  check(await page.getByTestId('passkey').count() === 0, 'no passkey listed');
  check((await authenticator.credentials()).length === 0, 'the authenticator starts empty');

  step('add a passkey named "laptop": the authenticator holds it (discoverable), the page lists it');
  const creation = await addPasskey(page, 'laptop');
  await passkeyNamed(page, 'laptop').waitFor();
  await message(page, 'Passkey laptop added');
  check(await page.getByTestId('passkey-empty').isHidden(), 'the empty note is gone');
  check(calls.some((c) => c.path === '/auth/passkeys/register/finish' && c.status === 201), `register/finish answered 201: ${shown(calls)}`);
  let held = await authenticator.credentials();
  check(held.length === 1, `the authenticator holds one credential: ${held.length}`);
  check(held[0].isResidentCredential, 'a discoverable (resident) credential, else a login without a username '
    + 'cannot find it: the creation options must ask for one (residentKey "required" or "preferred"), they ask '
    + `${JSON.stringify(creation.authenticatorSelection)}`);
  check(held[0].rpId === 'localhost', `for the rp localhost: ${held[0].rpId}`);
  const meta = await passkeyNamed(page, 'laptop').getByTestId('passkey-meta').textContent();
  check(/^Added .+ · last used never$/.test(meta), `a new passkey, never used: ${meta}`);
  const listed = await fetchJson(page, 'GET', '/auth/passkeys');
  check(listed.status === 200 && listed.body?.passkeys?.length === 1 && listed.body.passkeys[0].name === 'laptop', `GET /auth/passkeys: ${JSON.stringify(listed)}`);
  const laptopKey = listed.body.passkeys[0].id;

  step('the same authenticator cannot add a second passkey for dave (excludeCredentials)');
  await addPasskey(page, 'laptop again');
  const refused = await message(page, /already holds a passkey|No passkey was added/);
  check(/already holds a passkey/.test(refused), `the page says why: ${refused}`);
  check(await page.getByTestId('message').evaluate((node) => node.classList.contains('error')), 'shown as an error');
  check(await page.getByTestId('passkey').count() === 1, 'still one passkey listed');
  check((await authenticator.credentials()).length === 1, 'still one credential in the authenticator');
  check(await page.getByTestId('passkey-add').isEnabled(), 'the button works again');

  step('log out, log in with the passkey and the username: no password');
  await logOut(page);
  const named = await passkeyLogin(page, 'dave');
  check(named?.allowCredentials?.length === 1, `login/start names dave's passkey: ${JSON.stringify(named?.allowCredentials)}`);
  await loggedInWithPasskey(page, laptop, 'dave');
  check(calls.some((c) => c.path === '/auth/passkeys/login/finish' && c.status === 200), `login/finish answered 200: ${shown(calls)}`);
  const used = await passkeyNamed(page, 'laptop').getByTestId('passkey-meta').textContent();
  check(!/never$/.test(used), `the passkey was used: ${used}`);
  held = await authenticator.credentials();
  check(held[0].signCount >= 1, `the authenticator signed: sign count ${held[0].signCount}`);

  step('log out, log in with the passkey without a username (discoverable)');
  await logOut(page);
  const discoverable = await passkeyLogin(page, '');
  check(!discoverable?.allowCredentials?.length, `login/start names no passkey: ${JSON.stringify(discoverable?.allowCredentials)}`);
  await loggedInWithPasskey(page, laptop, 'dave');

  step('the phone, an older browser (no WebAuthn JSON helpers): add a passkey "phone" and log in with it');
  const phone = await browser.newContext({ viewport: VIEWPORT });
  await phone.addInitScript(() => {
    delete PublicKeyCredential.parseCreationOptionsFromJSON;
    delete PublicKeyCredential.parseRequestOptionsFromJSON;
    delete PublicKeyCredential.prototype.toJSON;
  });
  const phonePage = await openPage(phone, problems);
  const phoneCalls = watchPasskeyCalls(phonePage);
  const phoneAuthenticator = await virtualAuthenticator(phone, phonePage);
  await phonePage.goto(`${origin}/`);
  await phonePage.getByTestId('login-view').waitFor();
  check(await phonePage.evaluate(() => PublicKeyCredential.parseCreationOptionsFromJSON === undefined
    && PublicKeyCredential.prototype.toJSON === undefined), 'the phone has no JSON helpers');
  await logIn(phonePage, 'dave');
  await passkeyCount(phonePage, 1);
  await addPasskey(phonePage, 'phone');
  await passkeyNamed(phonePage, 'phone').waitFor();
  await passkeyCount(phonePage, 2);
  check((await phoneAuthenticator.credentials()).length === 1, 'the phone\'s authenticator holds its credential');
  await logOut(phonePage);
  const both = await passkeyLogin(phonePage, 'dave');
  check(both?.allowCredentials?.length === 2, `login/start names both passkeys: ${JSON.stringify(both?.allowCredentials)}`);
  await loggedInWithPasskey(phonePage, phone, 'dave');
  await logOut(phonePage);
  await passkeyLogin(phonePage, '');
  await loggedInWithPasskey(phonePage, phone, 'dave');
  check(phoneCalls.filter((c) => c.path === '/auth/passkeys/login/finish' && c.status === 200).length === 2, `two passkey logins: ${shown(phoneCalls)}`);

  step('removing a passkey needs a fresh login: after a silent refresh the page says to log in again');
  await page.reload(); // the laptop's list, with the phone's passkey
  await page.getByTestId('app-view').waitFor();
  await passkeyCount(page, 2);
  // As when the access cookie expires: the page refreshes the session, and
  // a refreshed access token is not fresh.
  await laptop.clearCookies({ name: 'access_token_cookie' });
  const before = calls.length;
  await passkeyNamed(page, 'laptop').getByTestId('passkey-remove').click();
  const stale = await message(page, /recent login/);
  check(/log in again/.test(stale), `the page asks to log in again: ${stale}`);
  const answers = calls.slice(before);
  check(answers.some((c) => c.path === '/auth/session/refresh' && c.status === 200), `a silent refresh: ${shown(answers)}`);
  check(answers.some((c) => c.method === 'DELETE' && c.status === 401), `DELETE refused with 401: ${shown(answers)}`);
  check(await page.getByTestId('app-view').isVisible(), 'still logged in');
  check(await page.getByTestId('passkey').count() === 2, 'both passkeys still listed');

  step('log in again with the password: "Remove" removes the laptop\'s passkey');
  await logOut(page);
  await logIn(page, 'dave');
  await passkeyCount(page, 2);
  await passkeyNamed(page, 'laptop').getByTestId('passkey-remove').click();
  await message(page, 'Passkey laptop removed');
  await passkeyCount(page, 1);
  await passkeyNamed(page, 'phone').waitFor();
  const left = await fetchJson(page, 'GET', '/auth/passkeys');
  check(left.body?.passkeys?.length === 1 && left.body.passkeys[0].id !== laptopKey && left.body.passkeys[0].name === 'phone', `only the phone's passkey left: ${JSON.stringify(left)}`);

  step('log out: the removed passkey logs nobody in (the authenticator still holds it)');
  await logOut(page);
  check((await authenticator.credentials()).length === 1, 'the laptop\'s authenticator still holds the credential');
  let failedBefore = calls.length;
  await passkeyLogin(page, '');
  let said = await refusedLogin(page, laptop);
  let failed = calls.slice(failedBefore);
  check(failed.some((c) => c.path === '/auth/passkeys/login/finish' && c.status >= 400 && c.status < 500), `login/finish refused with 4xx: ${shown(failed)}`);
  check(!failed.some((c) => c.path === '/auth/passkeys/login/finish' && c.status === 200), `no passkey login: ${shown(failed)}`);
  step(`  (the page said: ${said})`);
  // With the username, the service offers only the phone's passkey, which
  // this authenticator does not hold: the browser finds none to use.
  failedBefore = calls.length;
  const onlyPhone = await passkeyLogin(page, 'dave');
  check(onlyPhone?.allowCredentials?.length === 1, `only the phone's passkey offered: ${JSON.stringify(onlyPhone?.allowCredentials)}`);
  said = await refusedLogin(page, laptop);
  check(/No passkey was used/.test(said), `the browser found no passkey: ${said}`);
  failed = calls.slice(failedBefore);
  check(!failed.some((c) => c.path === '/auth/passkeys/login/finish' && c.status === 200), `no passkey login: ${shown(failed)}`);
  step(`  (the page said: ${said})`);

  step('the phone\'s passkey still logs dave in');
  await logOut(phonePage);
  await passkeyLogin(phonePage, '');
  await loggedInWithPasskey(phonePage, phone, 'dave');
  await phone.close();
  await laptop.close();
}

run('passkeys.mjs', scenario);
