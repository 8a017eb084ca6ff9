// The OpenID provider Sesame is benchmarked beside (issue #18, scripts/bench-oidc.sh): panva's
// `oidc-provider`, the most used certified OpenID provider, as its documentation sets it up —
// its in-memory adapter (the default), one confidential client, one account, and the
// interaction pages a deployment writes itself (sign-in, then consent). Plain HTTP on
// 127.0.0.1, like Sesame in the benchmark.
//
// What is not its default, and why:
// - features.clientCredentials and features.introspection: both off by default; the benchmark
//   measures them.
// - features.devInteractions off: it is a development aid that warns in production; the two
//   pages below are the ones its documentation has a deployment write, and the benchmark drives
//   them once per browser session at set-up, never in the measured loop.
// - pkce.required for every client (its default requires PKCE of public clients only): Sesame
//   requires it of every client. The benchmark sends PKCE either way, so this only refuses
//   requests without it.
// - jwks: one RSA 2048 signing key made at start (its built-in keys are development-only and
//   warn); ID tokens are RS256, its default and Sesame's RSA key size.
// - claims for the `email` and `profile` scopes (it knows only `openid` by default).
// - PEER_ACCESS_TOKENS=jwt (default `opaque`, its default): access tokens become RFC 9068 JWTs
//   for one resource server (features.resourceIndicators, on by default, with
//   getResourceServerInfo, defaultResource and useGrantedResource), signed RS256 — the shape
//   Sesame always issues. It does not introspect such tokens (they are self-contained).
//
// One process: the in-memory adapter keeps codes, sessions and grants in the process, so a
// second cluster worker would not find the first one's (a shared store such as Redis would be
// needed for that, and would be another benchmark).
//
// Environment: PEER_PORT, PEER_CLIENT_SECRET, PEER_COOKIE_KEY, PEER_ACCOUNT_EMAIL,
// PEER_ACCOUNT_PASSWORD, PEER_REDIRECT_URI (default https://app.example/cb),
// PEER_ACCESS_TOKENS (opaque | jwt).
import crypto from 'node:crypto';
import http from 'node:http';

import Provider, { errors } from 'oidc-provider';

const PORT = Number(process.env.PEER_PORT || 3000);
const ISSUER = `http://127.0.0.1:${PORT}`;
const CLIENT_SECRET = required('PEER_CLIENT_SECRET');
const COOKIE_KEY = required('PEER_COOKIE_KEY');
const ACCOUNT_EMAIL = process.env.PEER_ACCOUNT_EMAIL || 'bench@bench.example.com';
const ACCOUNT_PASSWORD = required('PEER_ACCOUNT_PASSWORD');
const REDIRECT_URI = process.env.PEER_REDIRECT_URI || 'https://app.example/cb';
const ACCESS_TOKENS = process.env.PEER_ACCESS_TOKENS || 'opaque';
// The resource server of PEER_ACCESS_TOKENS=jwt; its audience is Sesame's default one.
const API = 'https://api.bench.example';
const ACCOUNT_ID = crypto.createHash('sha256').update(ACCOUNT_EMAIL).digest('hex').slice(0, 32);

function required(name) {
  const v = process.env[name];
  if (!v || v.length < 16) {
    console.error(`${name} must be at least 16 characters`);
    process.exit(2);
  }
  return v;
}

if (!['opaque', 'jwt'].includes(ACCESS_TOKENS)) {
  console.error('PEER_ACCESS_TOKENS must be opaque or jwt');
  process.exit(2);
}

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'rs-1', use: 'sig', alg: 'RS256' };

const jwtAccessTokens = ACCESS_TOKENS === 'jwt' ? {
  defaultResource: async () => API,
  useGrantedResource: async () => true,
  getResourceServerInfo: async (_ctx, indicator) => {
    if (indicator !== API) throw new errors.InvalidTarget();
    return {
      scope: 'api',
      audience: 'api',
      accessTokenTTL: 15 * 60,
      accessTokenFormat: 'jwt',
      jwt: { sign: { alg: 'RS256' } },
    };
  },
} : {};

const provider = new Provider(ISSUER, {
  clients: [{
    client_id: 'bench',
    client_secret: CLIENT_SECRET,
    redirect_uris: [REDIRECT_URI],
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'openid email profile offline_access',
  }],
  jwks: { keys: [signingKey] },
  cookies: { keys: [COOKIE_KEY] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: { enabled: true, ...jwtAccessTokens },
  },
  pkce: { required: () => true },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, sub) {
    if (sub !== ACCOUNT_ID) return undefined;
    return {
      accountId: ACCOUNT_ID,
      async claims() {
        return {
          sub: ACCOUNT_ID,
          email: ACCOUNT_EMAIL,
          email_verified: true,
          name: 'Bench',
          preferred_username: 'bench',
        };
      },
    };
  },
});

// Its own log lines (server errors) go to stderr; the benchmark keeps them.
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

const digest = (s) => crypto.createHash('sha256').update(s).digest();

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
      if (body.length > 16384) reject(new Error('form too large'));
    });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

function page(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><html><body>${html}</body></html>`);
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// GET /interaction/:uid shows the step the provider asks for; POST answers it. Sign-in checks
// the one account's password; consent grants what the app asked for (the scopes and claims the
// provider reports missing), as a person pressing "Allow" would.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const { uid, prompt, params } = details;
  const action = `/interaction/${escape(uid)}`;
  if (req.method === 'GET') {
    if (prompt.name === 'login') {
      return page(res, 200, `<form method="post" action="${action}">
<input name="identifier" type="text" autocomplete="username">
<input name="password" type="password" autocomplete="current-password">
<button type="submit">Sign in</button></form>`);
    }
    return page(res, 200, `<p>${escape(params.client_id)} asks for ${escape(params.scope)}</p>
<form method="post" action="${action}">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button></form>`);
  }
  const form = await readForm(req);
  if (prompt.name === 'login') {
    const ok = form.get('identifier') === ACCOUNT_EMAIL
      && crypto.timingSafeEqual(digest(form.get('password') || ''), digest(ACCOUNT_PASSWORD));
    if (!ok) return page(res, 401, '<p>Wrong email or password</p>');
    return provider.interactionFinished(req, res, { login: { accountId: ACCOUNT_ID } }, {
      mergeWithLastSubmission: false,
    });
  }
  if (form.get('decision') !== 'allow') {
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'the person refused',
    }, { mergeWithLastSubmission: false });
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
  const missing = prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  return provider.interactionFinished(req, res, { consent: { grantId } }, {
    mergeWithLastSubmission: true,
  });
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      console.error('interaction', err);
      if (!res.headersSent) page(res, 400, `<p>${escape(err.message)}</p>`);
    });
    return;
  }
  callback(req, res);
});
server.listen(PORT, '127.0.0.1', () => {
  console.error(`oidc-provider ${ACCESS_TOKENS} access tokens on ${ISSUER}`);
});
// Everything is in memory: there is nothing to finish writing on the way out.
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
