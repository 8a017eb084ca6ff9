// Passkeys on Sesame's pages: the only script the pages load (CSP script-src 'self'). Every
// page works without it; with it, a form marked data-passkey gains a WebAuthn ceremony:
//
//   data-passkey="register"  (/account/security) adds a passkey: navigator.credentials.create()
//   data-passkey="signin"    (/signin) signs in with one: a button, and the browser's autofill
//                            on the username field (conditional mediation) where supported
//   data-passkey="mfa"       (/signin/mfa) uses one as the second factor
//
// The form carries the anti-forgery token; the script asks the form's data-start URL for the
// ceremony's options (a form post, so the same token and Origin checks apply), hands them to
// the browser, writes the answer into the form's hidden fields and submits it. The server
// decides everything; this script only carries the ceremony across.
"use strict";

(function () {
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return; // no WebAuthn: the pages' other ways in stay as they are
  }

  function fromB64url(s) {
    var b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function toB64url(buf) {
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(o) {
    var pk = Object.assign({}, o);
    pk.challenge = fromB64url(o.challenge);
    pk.user = Object.assign({}, o.user, { id: fromB64url(o.user.id) });
    pk.excludeCredentials = (o.excludeCredentials || []).map(function (c) {
      return Object.assign({}, c, { id: fromB64url(c.id) });
    });
    return pk;
  }

  function requestOptions(o) {
    var pk = Object.assign({}, o);
    pk.challenge = fromB64url(o.challenge);
    pk.allowCredentials = (o.allowCredentials || []).map(function (c) {
      return Object.assign({}, c, { id: fromB64url(c.id) });
    });
    return pk;
  }

  function registrationJson(cred) {
    var r = cred.response;
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      response: {
        attestationObject: toB64url(r.attestationObject),
        clientDataJSON: toB64url(r.clientDataJSON),
        transports: r.getTransports ? r.getTransports() : []
      },
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
    };
  }

  function assertionJson(cred) {
    var r = cred.response;
    return {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      response: {
        authenticatorData: toB64url(r.authenticatorData),
        clientDataJSON: toB64url(r.clientDataJSON),
        signature: toB64url(r.signature),
        userHandle: r.userHandle ? toB64url(r.userHandle) : null
      },
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}
    };
  }

  // Asks the server to start a ceremony: the form's token (and its other fields) posted to
  // its data-start URL. Answers {challenge_id, options} or throws.
  function start(form, extra) {
    var body = new URLSearchParams();
    new FormData(form).forEach(function (v, k) {
      if (k !== "credential" && k !== "challenge_id") body.append(k, v);
    });
    Object.keys(extra || {}).forEach(function (k) { body.set(k, extra[k]); });
    return fetch(form.dataset.start, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: body
    }).then(function (res) {
      if (!res.ok) throw new Error("start " + res.status);
      return res.json();
    });
  }

  function finish(form, challengeId, credential) {
    form.querySelector("input[name=challenge_id]").value = challengeId;
    form.querySelector("input[name=credential]").value = JSON.stringify(credential);
    form.submit();
  }

  function say(form, text) {
    var out = form.querySelector("[data-passkey-status]");
    if (out) out.textContent = text;
  }

  function failed(form, err) {
    if (err && err.name === "AbortError") return; // replaced by another ceremony
    say(form, form.dataset.failed || "The passkey did not work.");
  }

  function register(form) {
    form.addEventListener("submit", function (ev) {
      if (form.querySelector("input[name=credential]").value) return; // the answer, going in
      ev.preventDefault();
      say(form, "");
      start(form).then(function (c) {
        return navigator.credentials.create({ publicKey: creationOptions(c.options) })
          .then(function (cred) { finish(form, c.challenge_id, registrationJson(cred)); });
      }).catch(function (err) { failed(form, err); });
    });
  }

  function signIn(form, mode) {
    var pending = null; // the conditional (autofill) request, aborted by a button press

    function ask(extra, mediation) {
      if (pending) pending.abort();
      var abort = new AbortController();
      pending = abort;
      return start(form, extra).then(function (c) {
        var req = { publicKey: requestOptions(c.options), signal: abort.signal };
        if (mediation) req.mediation = mediation;
        return navigator.credentials.get(req).then(function (cred) {
          if (cred) finish(form, c.challenge_id, assertionJson(cred));
        });
      });
    }

    var button = form.querySelector("button[data-passkey-button]");
    if (button) {
      button.hidden = false;
      button.addEventListener("click", function (ev) {
        ev.preventDefault();
        say(form, "");
        var id = document.getElementById("identifier");
        var extra = { mode: mode };
        if (mode === "signin" && id && id.value.trim()) extra.identifier = id.value.trim();
        ask(extra, null).catch(function (err) { failed(form, err); });
      });
    }
    if (mode === "signin" && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
        if (!ok) return;
        // The served field says autocomplete="username"; passkeys join its autofill only
        // where this script runs.
        var id = document.getElementById("identifier");
        if (id && !/\bwebauthn\b/.test(id.autocomplete)) {
          id.setAttribute("autocomplete", "username webauthn");
        }
        ask({ mode: "signin" }, "conditional").catch(function () { /* autofill only */ });
      });
    }
  }

  document.querySelectorAll("form[data-passkey]").forEach(function (form) {
    var kind = form.dataset.passkey;
    if (kind === "register") register(form);
    else signIn(form, kind);
  });
  document.querySelectorAll("[data-needs-webauthn]").forEach(function (el) {
    el.hidden = false;
  });
  document.querySelectorAll("[data-without-webauthn]").forEach(function (el) {
    el.hidden = true;
  });
})();
