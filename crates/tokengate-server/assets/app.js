// The demo page of tokengate: a cookie session (HttpOnly JWT cookies and
// CSRF double submit), the user's memos, and a gallery of signed image
// links. Plain DOM APIs: user data only ever reaches the page as text.

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const IMAGE_NAME = /\.(png|jpe?g|gif|webp|avif)$/i;
const SESSION_ENDED = 'Your session has ended: log in again.';

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
  byId('current-user').textContent = '';
  byId('login-view').hidden = false;
  say(note, 'error');
}

async function showApp(user) {
  byId('login-view').hidden = true;
  byId('current-user').textContent = user.username;
  byId('user-bar').hidden = false;
  byId('app-view').hidden = false;
  await Promise.all([guard(loadMemos), guard(loadGallery)]);
}

/** Shows the app if the session works (refreshing it if needed), else the login form. */
async function enter() {
  let user;
  try {
    user = await api('GET', '/auth/status');
  } catch (error) {
    showLogin(error instanceof SessionEnded ? error.message : '');
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

loadProviders();
enter();
