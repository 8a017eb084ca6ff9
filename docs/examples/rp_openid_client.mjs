// "Sign in with Sesame" in a Node web app, with openid-client (panva's OpenID-certified relying
// party library) — as a public client: no secret, PKCE is the proof.
//
// usage: SESAME_ISSUER=https://id.example.com CLIENT_ID=... PORT=3000 node rp_openid_client.mjs
//
//     npm install openid-client@6
//
// Register the app first (an admin token in $ADMIN):
//
//     curl -H "authorization: Bearer $ADMIN" https://id.example.com/admin/clients -d '{
//       "name": "My app", "public": true,
//       "redirect_uris": ["http://127.0.0.1/cb"],
//       "post_logout_redirect_uris": ["http://127.0.0.1:3000/bye"],
//       "grant_types": ["authorization_code", "refresh_token"]}'
//
// then open http://127.0.0.1:PORT/login. (`http://127.0.0.1/cb` without a port is a loopback
// redirect URI: RFC 8252 lets it match any port. A post-logout URI is matched exactly.)
//
// Each step prints one JSON line on stdout — never a token; Sesame's tests read them. After the
// person signs out (GET /logout, then back at /bye) the app exits.
import { createServer } from 'node:http';
import * as oidc from 'openid-client';

const issuer = new URL(process.env.SESAME_ISSUER);
const port = Number(process.env.PORT ?? 3000);
const here = `http://127.0.0.1:${port}`;
const report = (line) => console.log(JSON.stringify(line));

// Discovery: the issuer's /.well-known/openid-configuration, its `issuer` checked to be this one.
// The ID token's signature is checked against the JWKS too (by default openid-client relies on
// TLS for tokens it fetched itself), and it must be RS256, openid-client's default.
const config = await oidc.discovery(issuer, process.env.CLIENT_ID, undefined, oidc.None(), {
  execute: [oidc.enableNonRepudiationChecks],
});
report({ event: 'discovered', issuer: config.serverMetadata().issuer });

// One person at a time in this example; a real app keeps these in its session store.
let pending; // { verifier, state, nonce } of the authorization in progress
let signedIn; // { tokens, claims }
let logoutState;

async function login(res) {
  const verifier = oidc.randomPKCECodeVerifier();
  pending = { verifier, state: oidc.randomState(), nonce: oidc.randomNonce() };
  const to = oidc.buildAuthorizationUrl(config, {
    redirect_uri: `${here}/cb`,
    scope: 'openid email profile offline_access',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: pending.state,
    nonce: pending.nonce,
  });
  report({ event: 'authorize', url: to.href });
  res.writeHead(303, { location: to.href }).end();
}

async function callback(url, res) {
  const checks = pending;
  pending = undefined;
  let tokens;
  try {
    // Checks `iss` (RFC 9207) and `state`, then exchanges the code with the PKCE verifier and
    // validates the ID token: signature, issuer, audience, expiry, nonce.
    tokens = await oidc.authorizationCodeGrant(config, url, {
      pkceCodeVerifier: checks?.verifier,
      expectedState: checks?.state,
      expectedNonce: checks?.nonce,
      idTokenExpected: true,
    });
  } catch (e) {
    if (!(e instanceof oidc.AuthorizationResponseError)) throw e;
    // The person said no (access_denied), or Sesame refused the request.
    report({ event: 'refused', error: e.error, params: Object.fromEntries(url.searchParams) });
    page(res, 'Not signed in', `Sesame answered ${e.error}. <a href="/login">Try again</a>`);
    return;
  }
  const claims = tokens.claims();
  signedIn = { tokens, claims };
  report({
    event: 'signed_in',
    id_token: { sub: claims.sub, aud: claims.aud, email: claims.email, nonce: claims.nonce },
    scope: tokens.scope,
  });

  // Userinfo: the response's `sub` must be the ID token's.
  const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
  report({ event: 'userinfo', sub: info.sub, email: info.email, name: info.preferred_username });

  // Refresh: Sesame rotates the refresh token and sends a new access token.
  const fresh = await oidc.refreshTokenGrant(config, tokens.refresh_token);
  report({
    event: 'refreshed',
    new_access_token: fresh.access_token !== tokens.access_token,
    new_refresh_token: fresh.refresh_token !== tokens.refresh_token,
    id_token_sub: fresh.claims()?.sub,
  });
  signedIn.tokens = fresh;
  page(res, 'Signed in', 'Hello. <a href="/logout">Sign out</a>');
}

// RP-initiated logout: Sesame ends the person's session there, then comes back to /bye.
async function logout(res) {
  logoutState = oidc.randomState();
  const to = oidc.buildEndSessionUrl(config, {
    id_token_hint: signedIn.tokens.id_token,
    post_logout_redirect_uri: `${here}/bye`,
    state: logoutState,
  });
  report({ event: 'logout', url: to.href });
  res.writeHead(303, { location: to.href }).end();
}

async function bye(url, res) {
  // The app's tokens ended with the session at Sesame: userinfo refuses them now.
  let after = 200;
  try {
    await oidc.fetchUserInfo(config, signedIn.tokens.access_token, signedIn.claims.sub);
  } catch (e) {
    after = e.status ?? String(e);
  }
  report({
    event: 'bye',
    state: url.searchParams.get('state'),
    state_matches: url.searchParams.get('state') === logoutState,
    userinfo_after_logout: after,
  });
  // Once this page is sent, the example is over.
  page(res, 'Signed out', 'Goodbye.', () => process.exit());
}

function page(res, title, body, sent) {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><title>${title}</title><h1>${title}</h1><p>${body}</p>`, sent);
}

createServer((req, res) => {
  const url = new URL(req.url, here);
  const routes = {
    '/login': () => login(res),
    '/cb': () => callback(url, res),
    '/logout': () => logout(res),
    '/bye': () => bye(url, res),
  };
  const route = routes[url.pathname];
  if (!route) return res.writeHead(404).end();
  route().catch((e) => {
    report({ event: 'failed', path: url.pathname, error: String(e), code: e.code });
    res.writeHead(500).end();
    process.exitCode = 1;
  });
}).listen(port, '127.0.0.1', () => report({ event: 'listening', login: `${here}/login` }));
