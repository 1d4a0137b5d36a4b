// A real OpenID Provider (node-oidc-provider) for tokengate's service tests:
// trusted external issuers and OIDC login as a relying party.
// Everything lives in memory and is lost on exit.
//
//   node provider.mjs [--port N] [--resources URL,URL]
//                     [--default-resource URL|none]
//                     [--redirect-uri URL]... [--post-logout-redirect-uri URL]...
//
// Each option can also come from the environment: OIDC_PORT, OIDC_RESOURCES,
// OIDC_DEFAULT_RESOURCE, OIDC_REDIRECT_URIS and OIDC_POST_LOGOUT_REDIRECT_URIS
// (comma-separated); an argument beats the environment. Port 0 (the default)
// takes any free port. Once listening, it prints ONE JSON line on stdout:
//   {"issuer": "http://127.0.0.1:PORT", "port": PORT, "resources": [...],
//    "clients": {"web": {...}, "machine": {...}}}
// It exits when its stdin closes (so a test killed without cleaning up does
// not leave it running: keep stdin open, e.g. `sleep infinity | node ...`,
// when starting it by hand) and on SIGTERM or SIGINT.

import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import Provider, { errors } from 'oidc-provider';

const list = (value) => (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    resources: { type: 'string' },
    'default-resource': { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true },
    'post-logout-redirect-uri': { type: 'string', multiple: true },
  },
  strict: true,
});

const env = process.env;
const port = Number(args.port ?? env.OIDC_PORT ?? 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  throw new Error(`bad port ${args.port ?? env.OIDC_PORT}`);
}
// The only resource indicators (API audiences) it issues tokens for: any
// other gets invalid_target, as a real provider would answer.
const resources = list(args.resources ?? env.OIDC_RESOURCES ?? 'https://api.tokengate.test,https://other.tokengate.test');
// Where a request naming no resource goes: without one, an access token is
// opaque, and tokengate can only check JWTs.
const defaultResourceArg = args['default-resource'] ?? env.OIDC_DEFAULT_RESOURCE ?? resources[0];
const defaultResourceUrl = defaultResourceArg === 'none' ? undefined : defaultResourceArg;
if (defaultResourceUrl !== undefined && !resources.includes(defaultResourceUrl)) {
  throw new Error(`the default resource ${defaultResourceUrl} is not one of ${resources.join(', ')}`);
}
const redirectUris = args['redirect-uri'] ?? list(env.OIDC_REDIRECT_URIS ?? 'http://127.0.0.1:5000/auth/oidc/test/callback');
const postLogoutRedirectUris = args['post-logout-redirect-uri'] ?? list(env.OIDC_POST_LOGOUT_REDIRECT_URIS ?? 'http://127.0.0.1:5000/');

// What every resource server grants; /api/private-scoped needs read:messages.
const RESOURCE_SCOPE = 'read:messages write:messages';

// Fixed secrets: the provider only ever listens on 127.0.0.1 for a test.
const clients = {
  web: {
    client_id: 'tokengate-web',
    client_secret: 'tokengate-web-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: redirectUris,
    post_logout_redirect_uris: postLogoutRedirectUris,
  },
  machine: {
    client_id: 'tokengate-machine',
    client_secret: 'tokengate-machine-secret',
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  },
};

// Fresh keys at every start, so that no test depends on a key it did not
// fetch. RS256 first: it is what ID tokens and access tokens are signed with.
async function signingKey(alg, options) {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...options });
  const jwk = await exportJWK(privateKey);
  jwk.kid = await calculateJwkThumbprint(jwk);
  jwk.alg = alg;
  jwk.use = 'sig';
  return jwk;
}
const keys = [
  await signingKey('RS256', { modulusLength: 2048 }),
  await signingKey('ES256'),
  await signingKey('EdDSA', { crv: 'Ed25519' }),
];

// The issuer holds the port, so listen first (port 0 picks one) and hand the
// requests to the provider once it exists.
const server = createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
const actualPort = server.address().port;
const issuer = `http://127.0.0.1:${actualPort}`;

const provider = new Provider(issuer, {
  clients: Object.values(clients),
  jwks: { keys },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  // Any login name is an account; the claims are derived from it.
  async findAccount(_ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: `${id}@example.test`, email_verified: true, name: id };
      },
    };
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  // The code flow only, as tokengate's OIDC login uses it.
  responseTypes: ['code'],
  pkce: { required: () => true },
  // Test clients are first-party: grant what they may ask for instead of
  // showing the consent page (the login page is still shown).
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      return ctx.oidc.provider.Grant.find(grantId);
    }
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile offline_access');
    grant.addOIDCClaims(['sub', 'email', 'email_verified', 'name']);
    for (const resource of resources) {
      grant.addResourceScope(resource, RESOURCE_SCOPE);
    }
    await grant.save();
    return grant;
  },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      async defaultResource(_ctx, _client, oneOf) {
        // A grant for several resources, no resource asked for: the first.
        if (oneOf) return Array.isArray(oneOf) ? oneOf[0] : oneOf;
        return defaultResourceUrl;
      },
      // A code or refresh token exchanged without `resource` gives a token
      // for the resource of the authorization request.
      useGrantedResource: async () => true,
      async getResourceServerInfo(_ctx, resourceIndicator) {
        if (!resources.includes(resourceIndicator)) {
          throw new errors.InvalidTarget();
        }
        // RFC 9068 JWT access tokens (header typ at+jwt), aud = the resource.
        return {
          scope: RESOURCE_SCOPE,
          audience: resourceIndicator,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
});

server.on('request', provider.callback());
// A bad request is the test's business: keep the provider's stderr short.
provider.on('server_error', (_ctx, err) => console.error('server_error:', err));

const clientInfo = (c) => ({
  client_id: c.client_id,
  client_secret: c.client_secret,
  token_endpoint_auth_method: c.token_endpoint_auth_method,
});
process.stdout.write(`${JSON.stringify({
  issuer,
  port: actualPort,
  resources,
  default_resource: defaultResourceUrl ?? null,
  clients: { web: clientInfo(clients.web), machine: clientInfo(clients.machine) },
})}\n`);

let stopping = false;
function stop(why) {
  if (stopping) return;
  stopping = true;
  console.error(`oidc provider stopping: ${why}`);
  server.closeAllConnections();
  server.close(() => process.exit(0));
  // Never linger: a stuck connection must not keep a test's port open.
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
process.stdin.on('end', () => stop('stdin closed'));
process.stdin.on('error', () => stop('stdin error'));
process.stdin.resume();
