"""'Sign in with Sesame' in a Flask app, with Authlib's OpenID Connect client — as a confidential
client (client_secret_basic) that also uses PKCE.

usage: SESAME_ISSUER=https://id.example.com CLIENT_ID=... CLIENT_SECRET=... PORT=5000 \\
           python rp_authlib.py

    pip install authlib flask requests

Register the app first (an admin token in $ADMIN):

    curl -H "authorization: Bearer $ADMIN" https://id.example.com/admin/clients -d '{
      "name": "My app",
      "redirect_uris": ["http://127.0.0.1/cb"],
      "post_logout_redirect_uris": ["http://127.0.0.1:5000/bye"],
      "grant_types": ["authorization_code", "refresh_token"]}'

then open http://127.0.0.1:PORT/login. (`http://127.0.0.1/cb` without a port is a loopback
redirect URI: RFC 8252 lets it match any port. A post-logout URI is matched exactly.)

With BACKCHANNEL=1 the app also takes OpenID back-channel logouts at /backchannel (register
`"backchannel_logout_uri": "http://127.0.0.1:5000/backchannel"`): it validates each logout token
with Authlib's own JOSE code against Sesame's JWKS, and exits only once one has arrived.

Each step prints one JSON line on stdout — never a token; Sesame's tests read them. After the
person signs out (GET /logout, then back at /bye) the app exits.
"""

import json
import os
import secrets
import threading

import requests
from authlib.common.encoding import urlsafe_b64decode, to_bytes
from authlib.integrations.base_client import OAuthError
from authlib.jose import JsonWebKey, JsonWebToken
from authlib.integrations.flask_client import OAuth
from flask import Flask, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.serving import make_server

issuer = os.environ["SESAME_ISSUER"]
client_id = os.environ["CLIENT_ID"]
port = int(os.environ.get("PORT", "5000"))
here = f"http://127.0.0.1:{port}"


def report(line):
    print(json.dumps(line), flush=True)


app = Flask(__name__)
# Authlib keeps state, nonce and the PKCE verifier in Flask's (signed) session cookie.
app.secret_key = secrets.token_bytes(32)
oauth = OAuth(app)
# Discovery: the endpoints and the JWKS come from the issuer's metadata; ID tokens are checked
# against its `issuer` and signing algorithms.
sesame = oauth.register(
    "sesame",
    client_id=client_id,
    client_secret=os.environ["CLIENT_SECRET"],
    server_metadata_url=f"{issuer}/.well-known/openid-configuration",
    client_kwargs={
        "scope": "openid email profile offline_access",
        "code_challenge_method": "S256",
        "token_endpoint_auth_method": "client_secret_basic",
    },
)
# Authlib checks an ID token's `iss` against the metadata's `issuer`: that must be the issuer
# this app trusts (OpenID Connect Discovery §4.3).
if sesame.load_server_metadata()["issuer"] != issuer:
    raise SystemExit(f"the metadata at {issuer} names another issuer")
report({"event": "discovered", "issuer": issuer})
# One person at a time in this example: a real app keeps the tokens in its server-side session
# store (Flask's default session is a cookie the browser can read).
signed_in = {}
# What an ID token must say: Authlib checks `iss` by default, the audience only when asked to.
id_token_claims = {
    "iss": {"essential": True, "value": issuer},
    "aud": {"essential": True, "value": client_id},
}
finished = threading.Event()
# What must have happened before the app exits: the person back at /bye and, when asked for,
# Sesame's back-channel logout.
pending = {"bye"} | ({"backchannel"} if os.environ.get("BACKCHANNEL") == "1" else set())
pending_lock = threading.Lock()
# The `sid` of the signed-in person's ID token: what a back-channel logout names.
session_sid = {}
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def done(step):
    with pending_lock:
        pending.discard(step)
        if not pending:
            finished.set()


def page(title, body):
    return f"<!doctype html><title>{title}</title><h1>{title}</h1><p>{body}</p>"


@app.get("/login")
def login():
    # A redirect to Sesame with state, nonce and the PKCE challenge (S256).
    response = sesame.authorize_redirect(url_for("callback", _external=True))
    report({"event": "authorize", "url": response.location})
    return response


@app.get("/cb")
def callback():
    try:
        # Checks the state, exchanges the code with the verifier (HTTP Basic client
        # authentication), then validates the ID token: signature against the JWKS, issuer,
        # audience, expiry, nonce and at_hash.
        token = sesame.authorize_access_token(claims_options=id_token_claims)
    except OAuthError as e:
        # The person said no (access_denied), or Sesame refused the request.
        report({"event": "refused", "error": e.error, "params": dict(request.args)})
        return page("Not signed in", f'Sesame answered {e.error}. <a href="/login">Try again</a>')
    claims = token["userinfo"]  # the validated ID token's claims
    signed_in["id_token"] = token["id_token"]
    session_sid["sid"] = claims.get("sid")
    report({
        "event": "signed_in",
        "id_token": {"sub": claims["sub"], "aud": claims["aud"], "email": claims.get("email"),
                     "nonce": claims.get("nonce")},
        "scope": token.get("scope"),
    })

    info = sesame.userinfo(token=token)
    report({"event": "userinfo", "sub": info["sub"], "email": info.get("email"),
            "name": info.get("preferred_username")})

    # Refresh: Sesame rotates the refresh token and sends a new access token.
    fresh = sesame.fetch_access_token(grant_type="refresh_token",
                                      refresh_token=token["refresh_token"])
    report({
        "event": "refreshed",
        "new_access_token": fresh["access_token"] != token["access_token"],
        "new_refresh_token": fresh["refresh_token"] != token["refresh_token"],
        # The new ID token, validated as the first (no nonce: it answers no authorization).
        "id_token_sub": sesame.parse_id_token(fresh, None, id_token_claims)["sub"],
    })
    signed_in["access_token"] = fresh["access_token"]
    return page("Signed in", 'Hello. <a href="/logout">Sign out</a>')


@app.get("/logout")
def logout():
    # RP-initiated logout: Sesame ends the person's session there, then comes back to /bye.
    response = sesame.logout_redirect(
        post_logout_redirect_uri=url_for("bye", _external=True),
        id_token_hint=signed_in["id_token"],
    )
    report({"event": "logout", "url": response.location})
    return response


@app.get("/bye")
def bye():
    try:
        sesame.validate_logout_response()  # the state is the one sent
        state_matches = True
    except OAuthError:
        state_matches = False
    # The app's tokens ended with the session at Sesame: userinfo refuses them now.
    try:
        sesame.userinfo(token={"access_token": signed_in["access_token"], "token_type": "Bearer"})
        after = 200
    except requests.HTTPError as e:
        after = e.response.status_code
    report({"event": "bye", "state": request.args.get("state"), "state_matches": state_matches,
            "userinfo_after_logout": after})
    signed_in.clear()
    response = app.make_response(page("Signed out", "Goodbye."))
    response.call_on_close(lambda: done("bye"))  # once this page is sent
    return response


@app.post("/backchannel")
def backchannel():
    # OpenID Back-Channel Logout 1.0 §2.6: a signed logout token (typ logout+jwt) from the
    # issuer, for this client, with the back-channel event, a sid or sub, and never a nonce.
    token = request.form.get("logout_token", "")
    try:
        header = json.loads(urlsafe_b64decode(to_bytes(token.split(".")[0] + "==")))
        metadata = sesame.load_server_metadata()
        keys = JsonWebKey.import_key_set(sesame.fetch_jwk_set())
        claims = JsonWebToken(metadata["id_token_signing_alg_values_supported"]).decode(
            token, keys, claims_options={
                "iss": {"essential": True, "value": issuer},
                "aud": {"essential": True, "value": client_id},
                "iat": {"essential": True},
                "jti": {"essential": True},
            })
        claims.validate()
        valid = (header.get("typ") == "logout+jwt" and BACKCHANNEL_EVENT in claims.get("events", {})
                 and "nonce" not in claims and bool(claims.get("sid")))
    except Exception as e:  # a forged or broken token: refused, and said so
        report({"event": "backchannel", "valid": False, "error": repr(e)})
        return "", 400
    report({"event": "backchannel", "valid": valid, "sub": claims["sub"],
            "sid_matches": claims.get("sid") == session_sid.get("sid")})
    if valid:
        done("backchannel")
    return "", 200 if valid else 400


@app.errorhandler(Exception)
def failed(e):
    if isinstance(e, HTTPException):  # a 404 for the browser's /favicon.ico, say
        return e
    report({"event": "failed", "path": request.path, "error": repr(e)})
    return page("Error", "Something went wrong."), 500


if __name__ == "__main__":
    # Threaded: a browser may open a connection it sends nothing on for a while.
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    report({"event": "listening", "login": f"{here}/login"})
    finished.wait()
    server.shutdown()
