// Checks a Sesame access token offline, including its status list (jose + zlib).
//
// usage: node status_list.mjs ISSUER AUDIENCE TOKEN [BASE_URL]
//
// Prints "valid" or "revoked". BASE_URL: where Sesame is reached when it is not the issuer URL.
// A real service keeps the key set (createRemoteJWKSet caches it) and each list, and fetches a
// list again after its `ttl` seconds; this example fetches it once.
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { inflateSync } from 'node:zlib';

const [issuer, audience, token, base = issuer] = process.argv.slice(2);
const rebase = (url) => (url.startsWith(issuer) ? base + url.slice(issuer.length) : url);
const keys = createRemoteJWKSet(new URL(rebase(`${issuer}/.well-known/jwks.json`)));

// 1. The token: signature, type, issuer, audience, expiry.
const { payload } = await jwtVerify(token, keys, { issuer, audience, typ: 'at+jwt' });

// 2. Its status list: only the issuer's own, signed by the issuer's keys, for this very URI.
const { idx, uri } = payload.status.status_list;
if (!uri.startsWith(`${issuer}/statuslists/`)) throw new Error("the status list is not the issuer's");
const res = await fetch(rebase(uri), { headers: { accept: 'application/statuslist+jwt' } });
if (!res.ok) throw new Error(`${uri} answered ${res.status}`);
const { payload: list } = await jwtVerify(await res.text(), keys, {
  typ: 'statuslist+jwt',
  subject: uri,
  requiredClaims: ['iat', 'exp'],
});

// 3. Bit `idx`: base64url, then zlib; bit idx % 8 of byte idx / 8, 1 = revoked.
const bits = inflateSync(Buffer.from(list.status_list.lst, 'base64url'));
console.log((bits[idx >> 3] >> (idx & 7)) & 1 ? 'revoked' : 'valid');
