"""Schemathesis hooks for Sesame: real credentials on every generated request that needs them.

Loaded by `schemathesis run` through SCHEMATHESIS_HOOKS (see main.rs). Settings come from the
environment: SESAME_ST_BASE (the server), SESAME_ST_CA (its certificate, to verify TLS),
SESAME_ST_PASSWORD (the password of every account made here) and SESAME_ST_ADMIN_FACTORY (a URL
of the test process that makes a fresh admin account and answers its username; Sesame has no
API to make an admin, by design).

Credentials are fetched afresh for every generated case, never cached: the fuzzer calls
`/auth/logout/all`, ends sessions, deletes and disables users, takes roles away and rotates
keys, so a token kept across cases would soon earn only 401s and 403s and the run would test
nothing behind authentication. An account the fuzzer broke is replaced by a new one.
"""

import base64
import json
import os
import threading
import uuid

import requests
import schemathesis

BASE = os.environ["SESAME_ST_BASE"].rstrip("/")
PASSWORD = os.environ["SESAME_ST_PASSWORD"]
ADMIN_FACTORY = os.environ["SESAME_ST_ADMIN_FACTORY"]

_lock = threading.RLock()
_http = requests.Session()
# Passed with every request: a Session's own `verify` loses to REQUESTS_CA_BUNDLE in the
# environment.
_VERIFY = os.environ.get("SESAME_ST_CA", True)
_state = {"user": None, "admin": None, "client": None}


def _post(path, **kwargs):
    return _http.post(BASE + path, timeout=10, verify=_VERIFY, **kwargs)


def _login(login):
    """A fresh access token, or None when the account can no longer log in."""
    if login is None:
        return None
    res = _post("/auth/login", json={"username": login, "password": PASSWORD})
    if res.status_code != 200:
        return None
    return res.json()["access"]


def _roles(access):
    payload = access.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return json.loads(base64.urlsafe_b64decode(payload)).get("roles", [])


def admin_token():
    """A new session of an admin (a new admin when the fuzzer deleted, disabled, locked or
    demoted the last one)."""
    with _lock:
        access = _login(_state["admin"])
        if access is None or "admin" not in _roles(access):
            res = requests.post(ADMIN_FACTORY, timeout=30)
            res.raise_for_status()
            _state["admin"] = res.text.strip()
            access = _login(_state["admin"])
        if access is None:
            raise RuntimeError("a fresh admin cannot log in")
        return access


def user_token():
    """A new session of an ordinary user (a new user when the last one is gone)."""
    with _lock:
        access = _login(_state["user"])
        if access is None:
            login = "st_" + uuid.uuid4().hex[:16]
            res = _post(
                "/auth/register",
                json={"email": login + "@example.com", "username": login, "password": PASSWORD},
            )
            res.raise_for_status()
            _state["user"] = login
            access = _login(login)
        if access is None:
            raise RuntimeError("a freshly registered user cannot log in")
        return access


def client_basic():
    """HTTP Basic credentials of a service client that still exists (a new one when deleted)."""
    with _lock:
        client = _state["client"]
        if client is not None:
            probe = _post("/oauth/token", data={"grant_type": "client_credentials"}, auth=client)
            if probe.status_code == 401:
                client = None
        if client is None:
            res = _post(
                "/admin/clients",
                json={"name": "schemathesis", "audiences": ["api"], "scopes": ["read"]},
                headers={"Authorization": "Bearer " + admin_token()},
            )
            res.raise_for_status()
            made = res.json()
            client = (made["client_id"], made["client_secret"])
            _state["client"] = client
    raw = f"{client[0]}:{client[1]}".encode()
    return "Basic " + base64.b64encode(raw).decode()


@schemathesis.auth(refresh_interval=None)
class SesameAuth:
    """Service-client Basic auth on /oauth/*, an admin's bearer token on /admin/*, a user's
    bearer token on every other operation the document marks as needing one."""

    def get(self, case, ctx):
        path = ctx.operation.path
        if path.startswith("/oauth/"):
            return client_basic()
        if path.startswith("/admin/"):
            return "Bearer " + admin_token()
        if ctx.operation.definition.raw.get("security"):
            return "Bearer " + user_token()
        return None

    def set(self, case, data, ctx):
        if data is None:
            return
        case.headers = case.headers or {}
        case.headers["Authorization"] = data
