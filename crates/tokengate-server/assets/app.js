// The demo page of tokengate: a cookie session (HttpOnly JWT cookies and
// CSRF double submit), the user's memos, a gallery of signed image links,
// the user's passkeys (WebAuthn: add, list, remove, log in with one) and
// sessions (logins), which they can end. Plain DOM APIs: user data only
// ever reaches the page as text.

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const IMAGE_NAME = /\.(png|jpe?g|gif|webp|avif)$/i;
const SESSION_ENDED = 'Your session has ended: log in again.';
const FRESH_LOGIN_NEEDED = 'For your safety, removing a passkey needs a recent login: '
  + 'log out, log in again (with your password or a passkey), then remove it.';
/** WebAuthn in this browser (only in a secure context: HTTPS or localhost). */
const PASSKEYS = typeof window.PublicKeyCredential === 'function' && Boolean(navigator.credentials);

const byId = (id) => document.getElementById(id);

/** A `{"code","msg"}` answer of the service. */
class ApiError extends Error {
  constructor(status, code, msg) {
    super(msg || `The service answered ${status}.`);
    this.status = status;
    this.code = code;
  }
}

/** The refresh token no longer works: the user must log in again. */
class SessionEnded extends Error {}

// --- Talking to the service ------------------------------------------------

/** The value of a cookie scripts may read (the CSRF cookies only). */
function readCookie(name) {
  for (const part of document.cookie.split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return decodeURIComponent(value.join('='));
  }
  return '';
}

/** One request; unsafe methods carry the CSRF value of `csrfCookie`. */
async function send(method, path, body, csrfCookie = 'csrf_access_token') {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const csrf = readCookie(csrfCookie);
  if (UNSAFE_METHODS.has(method) && csrf) headers['X-CSRF-TOKEN'] = csrf;
  const response = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data?.code, data?.msg);
  return data;
}

let refreshing = null;

/** Refreshes the session, once for all the requests waiting on it: the
 *  refresh token rotates, so two refreshes must not race with one cookie. */
function refreshSession() {
  refreshing ??= send('POST', '/auth/session/refresh', undefined, 'csrf_refresh_token')
    .finally(() => { refreshing = null; });
  return refreshing;
}

/** Whether a 401 means "the access token expired": the service says so, or
 *  the browser already dropped the access cookie (its Max-Age is the token's
 *  lifetime) while the refresh session is still there. */
function accessExpired(error) {
  if (!(error instanceof ApiError && error.status === 401)) return false;
  return error.code === 'token_expired'
    || (error.code === 'authorization_header_missing' && readCookie('csrf_refresh_token') !== '');
}

/** A request of the logged-in user: an expired access token is refreshed
 *  silently and the request sent again, once. */
async function api(method, path, body) {
  try {
    return await send(method, path, body);
  } catch (error) {
    if (!accessExpired(error)) throw error;
  }
  try {
    await refreshSession();
  } catch {
    throw new SessionEnded(SESSION_ENDED);
  }
  return send(method, path, body);
}

// --- Small DOM helpers -------------------------------------------------------

/** `<tag>` with properties, `data-*` attributes and children (text or nodes). */
function element(tag, { dataset = {}, ...props } = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props);
  Object.assign(node.dataset, dataset);
  node.append(...children);
  return node;
}

function button(label, testid, onClick, className = 'secondary') {
  const node = element('button', { type: 'button', className, textContent: label, dataset: { testid } });
  node.addEventListener('click', () => guard(onClick));
  return node;
}

function say(text, kind = 'info') {
  const message = byId('message');
  message.textContent = text;
  message.className = `message ${kind}`;
  message.hidden = !text;
}

/** Runs an action of the user; a lost session leads back to the login form. */
async function guard(action) {
  try {
    await action();
  } catch (error) {
    if (error instanceof SessionEnded || (error instanceof ApiError && error.status === 401)) {
      showLogin(SESSION_ENDED);
    } else {
      say(error.message, 'error');
    }
  }
}

// --- Views -------------------------------------------------------------------

function showLogin(note = '') {
  byId('app-view').hidden = true;
  byId('user-bar').hidden = true;
  byId('memo-list').replaceChildren();
  byId('gallery').replaceChildren();
  byId('passkey-list').replaceChildren();
  byId('session-list').replaceChildren();
  byId('sessions-end-others').disabled = true;
  byId('current-user').textContent = '';
  byId('login-view').hidden = false;
  say(note, 'error');
}

async function showApp(user) {
  byId('login-view').hidden = true;
  byId('current-user').textContent = user.username;
  byId('user-bar').hidden = false;
  byId('app-view').hidden = false;
  await Promise.all([guard(loadMemos), guard(loadGallery), guard(loadPasskeys), guard(loadSessions)]);
}

/** Shows the app if the session works (refreshing it if needed), else the login form. */
async function enter() {
  let user;
  try {
    user = await api('GET', '/auth/status');
  } catch (error) {
    // No token at all: a first visit or after a logout. Any other refusal:
    // the session was ended (here or on another device) or has expired.
    const ended = error instanceof SessionEnded
      || (error instanceof ApiError && error.status === 401 && error.code !== 'authorization_header_missing');
    showLogin(ended ? SESSION_ENDED : '');
    return;
  }
  await showApp(user);
}

// --- Memos -------------------------------------------------------------------

async function loadMemos() {
  const memos = await api('GET', '/api/memos');
  // Archived memos last, otherwise in the service's order.
  const ordered = [...memos].sort((a, b) => Number(a.archived) - Number(b.archived));
  byId('memo-list').replaceChildren(...ordered.map(memoItem));
  byId('memo-empty').hidden = memos.length > 0;
}

function memoPath(memo) {
  return `/api/memos/${encodeURIComponent(String(memo.id))}`;
}

function memoItem(memo) {
  const item = element('li', {
    className: memo.archived ? 'memo archived' : 'memo',
    dataset: { testid: 'memo', memoId: String(memo.id) },
  });
  showMemo(item, memo);
  return item;
}

function showMemo(item, memo) {
  const heading = element('h3', { className: 'memo-title' },
    element('span', { textContent: memo.title, dataset: { testid: 'memo-title-text' } }));
  if (memo.archived) heading.append(' ', element('span', { className: 'badge', textContent: 'archived' }));
  item.replaceChildren(
    heading,
    element('p', { className: 'memo-body', textContent: memo.body, dataset: { testid: 'memo-body-text' } }),
    element('div', { className: 'actions' },
      button('Edit', 'memo-edit', async () => editMemo(item, memo)),
      button(memo.archived ? 'Unarchive' : 'Archive', 'memo-archive', async () => {
        await api('PUT', memoPath(memo), { archived: !memo.archived });
        await loadMemos();
      }),
      button('Delete', 'memo-delete', async () => {
        await api('DELETE', memoPath(memo));
        await loadMemos();
      }, 'danger'),
    ),
  );
}

function editMemo(item, memo) {
  const title = element('input', { value: memo.title, required: true, dataset: { testid: 'memo-edit-title' } });
  const body = element('textarea', { value: memo.body, rows: 3, dataset: { testid: 'memo-edit-body' } });
  const form = element('form', { className: 'memo-form' },
    title,
    body,
    element('div', { className: 'actions' },
      element('button', { type: 'submit', textContent: 'Save', dataset: { testid: 'memo-save' } }),
      button('Cancel', 'memo-cancel', async () => showMemo(item, memo)),
    ),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    guard(async () => {
      await api('PUT', memoPath(memo), { title: title.value.trim(), body: body.value });
      await loadMemos();
    });
  });
  item.replaceChildren(form);
  title.focus();
}

// --- Gallery -----------------------------------------------------------------

async function loadGallery() {
  const files = await api('GET', '/api/files');
  const images = files.filter((file) => IMAGE_NAME.test(file.name));
  const figures = await Promise.all(images.map(async (file) => {
    const link = await api('POST', `/api/files/${encodeURIComponent(file.name)}/link`);
    const src = new URL(link.url, window.location.origin);
    if (src.origin !== window.location.origin) return null;
    return element('figure', {},
      element('img', { src: src.href, alt: file.name, dataset: { testid: 'gallery-image' } }),
      element('figcaption', { textContent: file.name }),
    );
  }));
  const shown = figures.filter(Boolean);
  byId('gallery').replaceChildren(...shown);
  byId('gallery-empty').hidden = shown.length > 0;
}

// --- Sessions ----------------------------------------------------------------

const BROWSERS = [
  [/\bEdg(?:e|A|iOS)?\/(\d+)/, 'Edge'],
  [/\bOPR\/(\d+)/, 'Opera'],
  [/\b(?:Firefox|FxiOS)\/(\d+)/, 'Firefox'],
  [/\bHeadlessChrome\/(\d+)/, 'Headless Chrome'],
  [/\b(?:Chrome|CriOS)\/(\d+)/, 'Chrome'],
  [/\bVersion\/(\d+)[\d.]* (?:Mobile\/\S+ )?Safari\//, 'Safari'],
];
const SYSTEMS = [
  [/Windows/, 'Windows'],
  [/Android/, 'Android'],
  [/iPhone|iPad|iPod/, 'iOS'],
  [/Mac OS X|Macintosh/, 'macOS'],
  [/CrOS/, 'ChromeOS'],
  [/Linux/, 'Linux'],
];

/** "Firefox 131 on Android" out of a User-Agent; else its first product, cut short. */
function shortAgent(agent) {
  if (!agent) return 'Unknown device';
  const browser = BROWSERS.find(([pattern]) => pattern.test(agent));
  const system = SYSTEMS.find(([pattern]) => pattern.test(agent));
  if (browser) {
    const name = `${browser[1]} ${agent.match(browser[0])[1]}`;
    return system ? `${name} on ${system[1]}` : name;
  }
  const first = agent.trim().split(/\s+/)[0];
  return first.length > 40 ? `${first.slice(0, 39)}…` : first;
}

function loginMethod(session) {
  if (session.method === 'password') return 'Password';
  if (session.method === 'passkey') return 'Passkey';
  if (session.method === 'oidc') return session.provider ? `Log in with ${session.provider}` : 'OpenID Connect';
  return session.method;
}

/** A `<time>` of an RFC 3339 instant, in the reader's time zone. */
function timeOf(instant) {
  const date = new Date(instant);
  const shown = Number.isNaN(date.getTime()) ? instant : date.toLocaleString();
  return element('time', { dateTime: instant, textContent: shown });
}

async function loadSessions() {
  const { sessions } = await api('GET', '/auth/sessions');
  byId('session-list').replaceChildren(...sessions.map(sessionItem));
  byId('sessions-end-others').disabled = !sessions.some((session) => !session.current);
}

function sessionItem(session) {
  const heading = element('h3', { className: 'session-device' },
    element('span', { textContent: shortAgent(session.user_agent), title: session.user_agent ?? '', dataset: { testid: 'session-agent' } }));
  if (session.current) {
    heading.append(' ', element('span', { className: 'badge current', textContent: 'this device', dataset: { testid: 'session-current' } }));
  }
  const where = [loginMethod(session), session.ip].filter(Boolean).join(' · ');
  const item = element('li', {
    className: session.current ? 'session current' : 'session',
    dataset: { testid: 'session', sessionId: session.id, current: String(session.current) },
  },
  heading,
  element('p', { className: 'session-meta', textContent: where, dataset: { testid: 'session-method' } }),
  element('p', { className: 'session-meta muted' },
    'Started ', timeOf(session.created_at), ' · last used ', timeOf(session.last_used_at)),
  );
  if (!session.current) {
    item.append(element('div', { className: 'actions' }, button('End', 'session-end', async () => {
      try {
        await api('DELETE', `/auth/sessions/${encodeURIComponent(session.id)}`);
        say('Session ended: that device is logged out.');
      } catch (error) {
        // Already ended (or expired) meanwhile: the list shows what is left.
        if (!(error instanceof ApiError && error.status === 404)) throw error;
        say('That session had already ended.');
      }
      await loadSessions();
    }, 'danger')));
  }
  return item;
}

// --- Passkeys (WebAuthn) -----------------------------------------------------
// The service speaks the WebAuthn JSON forms (binary fields as base64url);
// the browser API wants ArrayBuffers. Recent browsers convert both ways
// (PublicKeyCredential.parse*OptionsFromJSON, credential.toJSON()); older
// ones get the same conversion done here.

function fromBase64url(text) {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0)).buffer;
}

function toBase64url(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** JSON without its `null` members: WebIDL dictionaries refuse null where a
 *  member is absent. */
function withoutNulls(value) {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value)
    .filter(([, member]) => member !== null)
    .map(([key, member]) => [key, withoutNulls(member)]));
}

const withBinaryId = (descriptor) => ({ ...descriptor, id: fromBase64url(descriptor.id) });

/** `navigator.credentials.create`'s `publicKey` out of the service's JSON. */
function creationOptions(json) {
  const options = withoutNulls(json);
  if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === 'function') {
    return PublicKeyCredential.parseCreationOptionsFromJSON(options);
  }
  return {
    ...options,
    challenge: fromBase64url(options.challenge),
    user: { ...options.user, id: fromBase64url(options.user.id) },
    excludeCredentials: (options.excludeCredentials ?? []).map(withBinaryId),
  };
}

/** `navigator.credentials.get`'s `publicKey` out of the service's JSON. */
function requestOptions(json) {
  const options = withoutNulls(json);
  if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function') {
    return PublicKeyCredential.parseRequestOptionsFromJSON(options);
  }
  return {
    ...options,
    challenge: fromBase64url(options.challenge),
    allowCredentials: (options.allowCredentials ?? []).map(withBinaryId),
  };
}

/** A new or used credential as JSON for the service (`toJSON()`'s form). */
function credentialJSON(credential) {
  if (typeof credential.toJSON === 'function') return credential.toJSON();
  const { response } = credential;
  const json = { clientDataJSON: toBase64url(response.clientDataJSON) };
  if ('attestationObject' in response) {
    json.attestationObject = toBase64url(response.attestationObject);
    json.transports = typeof response.getTransports === 'function' ? response.getTransports() : [];
  } else {
    json.authenticatorData = toBase64url(response.authenticatorData);
    json.signature = toBase64url(response.signature);
    if (response.userHandle) json.userHandle = toBase64url(response.userHandle);
  }
  return {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    response: json,
    authenticatorAttachment: credential.authenticatorAttachment ?? undefined,
    clientExtensionResults: credential.getClientExtensionResults(),
  };
}

/** What a refusal of the browser (or the user) means, in words. */
function passkeyProblem(error, creating) {
  if (!(error instanceof DOMException)) return error;
  switch (error.name) {
    case 'NotAllowedError':
      return new Error(creating
        ? 'No passkey was added: the request was cancelled or timed out.'
        : 'No passkey was used: the request was cancelled or timed out, or this device has no passkey for this site.');
    case 'InvalidStateError':
      return new Error('This device already holds a passkey of this account.');
    case 'SecurityError':
      return new Error(`Passkeys do not work at this address (${window.location.host}): `
        + 'open the page at the address the service is configured for.');
    case 'NotSupportedError':
      return new Error('This device supports none of the kinds of passkey the service accepts.');
    default:
      return new Error(`The passkey request failed: ${error.message}`);
  }
}

/** Runs the browser's part of a ceremony, its refusals told in words. */
async function ceremony(creating, run) {
  try {
    return await run();
  } catch (error) {
    throw passkeyProblem(error, creating);
  }
}

/** Disables `node` while `action` runs: one ceremony at a time. */
async function busy(node, action) {
  if (node.disabled) return;
  node.disabled = true;
  try {
    await action();
  } finally {
    node.disabled = false;
  }
}

async function loadPasskeys() {
  if (!PASSKEYS) return;
  const { passkeys } = await api('GET', '/auth/passkeys');
  byId('passkey-list').replaceChildren(...passkeys.map(passkeyItem));
  byId('passkey-empty').hidden = passkeys.length > 0;
}

function passkeyItem(passkey) {
  const used = passkey.last_used_at ? timeOf(passkey.last_used_at) : 'never';
  return element('li', { className: 'passkey', dataset: { testid: 'passkey', passkeyId: String(passkey.id) } },
    element('h3', { className: 'passkey-name', textContent: passkey.name, dataset: { testid: 'passkey-name-text' } }),
    element('p', { className: 'passkey-meta muted', dataset: { testid: 'passkey-meta' } },
      'Added ', timeOf(passkey.created_at), ' · last used ', used),
    element('div', { className: 'actions' }, button('Remove', 'passkey-remove', async () => {
      try {
        await api('DELETE', `/auth/passkeys/${encodeURIComponent(String(passkey.id))}`);
      } catch (error) {
        if (error instanceof ApiError && error.code === 'fresh_token_required') {
          say(FRESH_LOGIN_NEEDED, 'error');
          return;
        }
        // Removed meanwhile (another tab): the list shows what is left.
        if (!(error instanceof ApiError && error.status === 404)) throw error;
      }
      say(`Passkey ${passkey.name} removed: it no longer logs you in.`);
      await loadPasskeys();
    }, 'danger')),
  );
}

async function addPasskey() {
  const name = byId('passkey-name').value.trim();
  const { publicKey } = await api('POST', '/auth/passkeys/register/start');
  const credential = await ceremony(true, () => navigator.credentials.create({ publicKey: creationOptions(publicKey) }));
  const added = await api('POST', '/auth/passkeys/register/finish', { name, credential: credentialJSON(credential) });
  byId('passkey-form').reset();
  say(`Passkey ${added?.name ?? name} added: you can log in with it.`);
  await loadPasskeys();
}

async function passkeyLogin() {
  // The username is optional here: without one, the device offers the
  // passkeys it holds for this site (discoverable credentials).
  const username = byId('username').value.trim();
  const { publicKey } = await send('POST', '/auth/passkeys/login/start', username ? { username } : {});
  const credential = await ceremony(false, () => navigator.credentials.get({ publicKey: requestOptions(publicKey) }));
  await send('POST', '/auth/passkeys/login/finish', { credential: credentialJSON(credential), session: true });
}

// --- Login, registration, providers -----------------------------------------

function credentials() {
  return { username: byId('username').value.trim(), password: byId('password').value };
}

async function loadProviders() {
  let providers;
  try {
    providers = await send('GET', '/auth/oidc');
  } catch {
    return; // No providers configured (or no such route): no buttons.
  }
  if (!Array.isArray(providers)) return;
  byId('oidc-providers').replaceChildren(...providers.map((provider) => element('a', {
    className: 'button provider',
    href: `/auth/oidc/${encodeURIComponent(provider.name)}/login?next=/`,
    textContent: `Log in with ${provider.name}`,
    dataset: { testid: 'oidc-login' },
  })));
}

byId('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    await send('POST', '/auth/session', credentials());
  } catch (error) {
    say(error.message, 'error');
    return;
  }
  byId('password').value = '';
  say('');
  await enter();
});

byId('register').addEventListener('click', async () => {
  if (!byId('login-form').reportValidity()) return;
  const { username, password } = credentials();
  try {
    await send('POST', '/auth/register', { username, password });
  } catch (error) {
    say(error.message, 'error');
    return;
  }
  say(`Account ${username} created: log in.`);
});

byId('passkey-login').addEventListener('click', () => busy(byId('passkey-login'), async () => {
  try {
    await passkeyLogin();
  } catch (error) {
    say(error.message, 'error');
    return;
  }
  byId('password').value = '';
  say('');
  await enter();
}));

byId('logout').addEventListener('click', () => guard(async () => {
  await api('DELETE', '/auth/session');
  showLogin();
  say('Logged out.');
}));

byId('memo-form').addEventListener('submit', (event) => {
  event.preventDefault();
  guard(async () => {
    await api('POST', '/api/memos', { title: byId('memo-title').value.trim(), body: byId('memo-body').value });
    byId('memo-form').reset();
    await loadMemos();
  });
});

byId('passkey-form').addEventListener('submit', (event) => {
  event.preventDefault();
  guard(() => busy(byId('passkey-add'), addPasskey));
});

byId('sessions-reload').addEventListener('click', () => guard(loadSessions));

byId('sessions-end-others').addEventListener('click', () => guard(async () => {
  await api('DELETE', '/auth/sessions');
  say('Your other sessions have ended.');
  await loadSessions();
}));

byId('passkeys').hidden = !PASSKEYS;
byId('passkey-login-box').hidden = !PASSKEYS;
loadProviders();
enter();
