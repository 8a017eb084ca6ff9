"""Checks a Sesame access token offline, including its status list (PyJWT + zlib).

usage: python status_list.py ISSUER AUDIENCE TOKEN [BASE_URL]

Prints "valid" or "revoked". BASE_URL: where Sesame is reached when it is not the issuer URL
(inside a container network, say). A real service fetches the JWKS and each list once, keeps
them, and fetches a list again after its `ttl` seconds; this example fetches them once.
"""
import base64
import sys
import urllib.request
import zlib

import jwt  # PyJWT, with cryptography for EdDSA, ES256 and RS256

issuer, audience, token = sys.argv[1:4]
base = sys.argv[4] if len(sys.argv) > 4 else issuer


def get(url, accept):
    if url.startswith(issuer):
        url = base + url[len(issuer):]
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read()


keys = jwt.PyJWKSet.from_json(get(issuer + "/.well-known/jwks.json", "application/json").decode())


def verify(compact, typ, **checks):
    header = jwt.get_unverified_header(compact)
    if header.get("typ") != typ:
        raise ValueError(f"typ is {header.get('typ')!r}, not {typ!r}")
    key = next(k for k in keys.keys if k.key_id == header["kid"])
    return jwt.decode(compact, key.key, algorithms=[key.algorithm_name], **checks)


# 1. The token: signature, issuer, audience, expiry.
claims = verify(token, "at+jwt", audience=audience, issuer=issuer)

# 2. Its status list: only the issuer's own, signed by the issuer's keys, for this very URI.
ref = claims["status"]["status_list"]
if not ref["uri"].startswith(issuer + "/statuslists/"):
    raise ValueError("the status list is not the issuer's")
status_list = verify(
    get(ref["uri"], "application/statuslist+jwt").decode(),
    "statuslist+jwt",
    options={"require": ["sub", "iat", "exp"], "verify_aud": False},
)
if status_list["sub"] != ref["uri"]:
    raise ValueError("the list is not the one the token names")

# 3. Bit `idx`: base64url, then zlib; bit idx % 8 of byte idx // 8, 1 = revoked.
lst = status_list["status_list"]["lst"]
bits = zlib.decompress(base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4)))
idx = ref["idx"]
print("revoked" if bits[idx // 8] >> (idx % 8) & 1 else "valid")
