//! Writes the hand-made seed corpus into `fuzz/corpus/<target>/` (run from `fuzz/`:
//! `cargo run --example seeds`; `-- --new-keys` first replaces the fixed keys in `keys/`, which
//! invalidates every committed seed token). Seeds are meaningful inputs — valid tokens, valid bodies and
//! forms, and a few near misses — from which the fuzzer mutates; they are committed, the
//! corpus the fuzzer grows is not.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sesame_fuzz::{NOW, good_claims, jwks_json, keys, sign_claims, sign_raw};

fn write(target: &str, name: &str, data: impl AsRef<[u8]>) {
    let dir = Path::new("corpus").join(target);
    std::fs::create_dir_all(&dir).expect("corpus dir");
    std::fs::write(dir.join(name), data).expect("seed written");
}

/// Makes new fixed keys with Sesame's own key generation (PKCS#8 as Sesame stores them).
fn new_keys() {
    use secrecy::ExposeSecret;
    use sesame_core::keys::{KeyState, SigningAlg, generate_key};
    for (alg, file) in [
        (SigningAlg::EdDSA, "ed25519.pk8"),
        (SigningAlg::ES256, "p256.pk8"),
        (SigningAlg::RS256, "rsa2048.pk8"),
    ] {
        let key = generate_key(alg, KeyState::Current, chrono::Utc::now()).expect("key made");
        std::fs::write(
            Path::new("keys").join(file),
            key.private_der.expose_secret(),
        )
        .expect("key written");
    }
}

fn main() {
    if std::env::args().any(|a| a == "--new-keys") {
        new_keys();
        return;
    }
    // jwt_verify: valid tokens of each key, and near misses.
    for key in keys() {
        let alg = key.alg.as_str().to_lowercase();
        let valid = sign_claims(key, &good_claims());
        let claims = sesame_fuzz::verifier()
            .verify(&valid, NOW)
            .expect("the valid seed verifies");
        sesame_fuzz::assert_genuine(&valid);
        sesame_fuzz::assert_claims_hold(&claims, Some(sesame_fuzz::AUDIENCE), NOW);
        write("jwt_verify", &format!("valid-{alg}"), valid);
        let mut expired = good_claims();
        expired["exp"] = (NOW - 60).into();
        write(
            "jwt_verify",
            &format!("expired-{alg}"),
            sign_claims(key, &expired),
        );
        let mut many = good_claims();
        many["aud"] = serde_json::json!(["gallery", "api"]);
        write(
            "jwt_verify",
            &format!("audiences-{alg}"),
            sign_claims(key, &many),
        );
    }
    let ed = &keys()[0];
    let payload = B64.encode(good_claims().to_string());
    let none = format!(
        "{}.{payload}.",
        B64.encode(r#"{"alg":"none","typ":"at+jwt"}"#)
    );
    write("jwt_verify", "alg-none", none);
    let hs = format!(
        "{}.{payload}.c2lnbmF0dXJl",
        B64.encode(r#"{"alg":"HS256","kid":"fuzz-ed","typ":"at+jwt"}"#)
    );
    write("jwt_verify", "alg-hs256-with-public-key-kid", hs);
    let wrong_kid = sign_raw(
        ed,
        br#"{"alg":"EdDSA","kid":"fuzz-rsa","typ":"at+jwt"}"#,
        good_claims().to_string().as_bytes(),
    );
    write("jwt_verify", "kid-of-another-key", wrong_kid);
    write(
        "jwt_verify",
        "jwe-five-parts",
        "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d",
    );

    // jwt_claims: pick byte, header, NUL, payload.
    for (i, key) in keys().iter().enumerate() {
        let header = format!(
            r#"{{"alg":"{}","kid":"{}","typ":"at+jwt"}}"#,
            key.alg.as_str(),
            key.kid
        );
        let mut seed = vec![i as u8];
        seed.extend_from_slice(header.as_bytes());
        seed.push(0);
        seed.extend_from_slice(good_claims().to_string().as_bytes());
        write("jwt_claims", &format!("valid-{}", key.kid), seed);
    }
    let mut exchanged = good_claims();
    exchanged["act"] = serde_json::json!({"sub": "svc_1", "act": {"sub": "svc_0"}});
    exchanged["scope"] = "read write".into();
    exchanged["aud"] = serde_json::json!(["api", "gallery"]);
    let mut seed = vec![0u8];
    seed.extend_from_slice(
        br#"{"alg":"EdDSA","kid":"fuzz-ed","typ":"application/at+jwt","cty":"JWT"}"#,
    );
    seed.push(0);
    seed.extend_from_slice(exchanged.to_string().as_bytes());
    write("jwt_claims", "exchanged-with-act", seed);

    // jwks: the real document and a few variants.
    write("jwks", "fixed-keys", jwks_json());
    write(
        "jwks",
        "alg-mismatch",
        jwks_json().replace(r#""alg":"EdDSA""#, r#""alg":"RS256""#),
    );
    write("jwks", "empty", r#"{"keys":[]}"#);
    write(
        "jwks",
        "symmetric-key",
        r#"{"keys":[{"kty":"oct","kid":"fuzz-ed","alg":"HS256","k":"c2VjcmV0"}]}"#,
    );

    // refresh_token
    write(
        "refresh_token",
        "valid",
        "q1Yj8xZ2bM3nP4rS5tU6vW7xY8zA9bC0dE1fG2hI3jK",
    );
    write(
        "refresh_token",
        "one-short",
        "q1Yj8xZ2bM3nP4rS5tU6vW7xY8zA9bC0dE1fG2hI3j",
    );
    write(
        "refresh_token",
        "padded",
        "q1Yj8xZ2bM3nP4rS5tU6vW7xY8zA9bC0dE1fG2hI3j=",
    );
    write(
        "refresh_token",
        "multibyte",
        "q1Yj8xZ2bM3nP4rS5tU6vW7xY8zA9bC0dE1fG2hI3é",
    );

    // domain: emails, usernames, passwords ("password\nidentity"), roles.
    for (name, s) in [
        ("email", "Alice.Smith+tag@Sub.Example.COM"),
        ("email-idn", "ü@bücher.de"),
        ("email-localhost", "root@localhost"),
        ("email-dotted-capital-i", "a@İstanbul.example"),
        ("username", "Al_ice.B-2"),
        ("password-identity", "alice@example.com\nAlice@Example.com"),
        ("password-ok", "correct horse battery staple\nalice"),
        ("role", "billing:read-only_2"),
    ] {
        write("domain", name, s);
    }

    // json_bodies: pick byte (request type) then the body.
    let bodies: [(u8, &str, &str); 14] = [
        (
            0,
            "register",
            r#"{"email":"alice@example.com","username":"alice","password":"correct horse battery staple"}"#,
        ),
        (
            1,
            "login",
            r#"{"username":"alice","password":"correct horse battery staple","audience":["api","gallery"]}"#,
        ),
        (
            2,
            "refresh",
            r#"{"refresh":"q1Yj8xZ2bM3nP4rS5tU6vW7xY8zA9bC0dE1fG2hI3jK"}"#,
        ),
        (3, "verify", r#"{"token":"eyJhbGciOiJFZERTQSJ9.e30.c2ln"}"#),
        (
            4,
            "logout",
            r#"{"refresh_token":"q1Yj8xZ2bM3nP4rS5tU6vW7xY8zA9bC0dE1fG2hI3jK"}"#,
        ),
        (
            5,
            "password",
            r#"{"current_password":"correct horse battery staple","new_password":"another long passphrase"}"#,
        ),
        (6, "forgot", r#"{"email":"alice@example.com"}"#),
        (
            7,
            "reset",
            r#"{"token":"abc","new_password":"another long passphrase"}"#,
        ),
        (8, "verify-email", r#"{"token":"abc"}"#),
        (
            9,
            "profile",
            r#"{"username":null,"display_name":"Alice","email":"new@example.com","current_password":"x"}"#,
        ),
        (
            10,
            "delete-profile",
            r#"{"password":"correct horse battery staple"}"#,
        ),
        (11, "admin-patch", r#"{"disabled":true}"#),
        (12, "roles", r#"{"roles":["customer","admin"]}"#),
        (
            13,
            "new-client",
            r#"{"name":"gallery","audiences":["gallery"],"scopes":["read"]}"#,
        ),
    ];
    for (pick, name, body) in bodies {
        let mut seed = vec![pick];
        seed.extend_from_slice(body.as_bytes());
        write("json_bodies", name, seed);
    }

    // http_request: requests as text, placeholders replaced by the target.
    let j = "content-type: application/json";
    for (name, req) in [
        ("register", format!("POST /auth/register\n{j}\n\n{}", bodies[0].2)),
        ("login", format!("POST /auth/login\n{j}\n\n{{\"email\":\"fuzz0@example.com\",\"password\":\"$PASSWORD\"}}")),
        ("refresh", format!("POST /auth/token/refresh\n{j}\n\n{{\"refresh\":\"$REFRESH\"}}")),
        ("verify", format!("POST /auth/token/verify\n{j}\n\n{{\"token\":\"$ACCESS\"}}")),
        ("logout", format!("POST /auth/logout\n{j}\nauthorization: Bearer $ACCESS\n\n{{\"refresh_token\":\"$REFRESH\"}}")),
        ("logout-all", "POST /auth/logout/all\nauthorization: Bearer $ACCESS\n\n".to_string()),
        ("password", format!("POST /auth/password\n{j}\nauthorization: Bearer $ACCESS\n\n{{\"current_password\":\"$PASSWORD\",\"new_password\":\"another long passphrase\"}}")),
        ("profile", "GET /profile\nauthorization: Bearer $ACCESS\n\n".to_string()),
        ("profile-patch", format!("PATCH /profile\n{j}\nauthorization: Bearer $ACCESS\n\n{{\"display_name\":\"Fuzzy\",\"username\":null}}")),
        ("preferences", format!("PUT /profile/preferences\n{j}\nauthorization: Bearer $ACCESS\n\n{{\"theme\":\"dark\",\"n\":[1,2,{{}}]}}")),
        ("sessions", "GET /auth/sessions\nauthorization: Bearer $ACCESS\n\n".to_string()),
        ("end-session", "DELETE /auth/sessions/$SID\nauthorization: Bearer $ACCESS\n\n".to_string()),
        ("forgot", format!("POST /auth/password/forgot\n{j}\n\n{{\"email\":\"fuzz0@example.com\"}}")),
        ("forward-auth", "GET /auth/verify?audience=api&role=customer\nauthorization: Bearer $ACCESS\nx-sesame-role: customer\n\n".to_string()),
        ("forward-auth-envoy", "GET /auth/verify/some/path?audience=x\nauthorization: Bearer $ACCESS\n\n".to_string()),
        ("admin-users", "GET /admin/users?q=fuzz&limit=2\nauthorization: Bearer $ADMIN\n\n".to_string()),
        ("admin-disable", format!("PATCH /admin/users/$VICTIM\n{j}\nauthorization: Bearer $ADMIN\n\n{{\"disabled\":true}}")),
        ("admin-roles", format!("PUT /admin/users/$VICTIM/roles\n{j}\nauthorization: Bearer $ADMIN\n\n{{\"roles\":[\"customer\",\"billing:read\"]}}")),
        ("admin-sessions", "DELETE /admin/users/$VICTIM/sessions\nauthorization: Bearer $ADMIN\n\n".to_string()),
        ("admin-audit", "GET /admin/audit?event=login_succeeded&limit=3\nauthorization: Bearer $ADMIN\n\n".to_string()),
        ("admin-client", format!("POST /admin/clients\n{j}\nauthorization: Bearer $ADMIN\n\n{}", bodies[13].2)),
        ("jwks", "GET /.well-known/jwks.json\n\n".to_string()),
        ("wrong-content-type", "POST /auth/login\ncontent-type: text/plain\n\n{}".to_string()),
    ] {
        write("http_request", name, req);
    }

    // oauth_form: pick byte (endpoint = pick % 3, auth = (pick / 3) % 4) then the form.
    for (pick, name, form) in [
        (
            0u8,
            "token-post",
            "grant_type=client_credentials&client_id=$CLIENT_ID&client_secret=$CLIENT_SECRET&scope=read",
        ),
        (
            3,
            "token-basic",
            "grant_type=client_credentials&audience=gallery&resource=gallery",
        ),
        (
            3,
            "exchange",
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=$ACCESS&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&audience=gallery",
        ),
        (
            6,
            "token-raw-basic",
            "$BASIC\ngrant_type=client_credentials",
        ),
        (
            4,
            "introspect-access",
            "token=$ACCESS&token_type_hint=access_token",
        ),
        (4, "introspect-refresh", "token=$REFRESH"),
        (4, "introspect-service", "token=$SERVICE"),
        (
            5,
            "revoke-refresh",
            "token=$REFRESH&token_type_hint=refresh_token",
        ),
        (5, "revoke-access", "token=$ACCESS"),
        (
            3,
            "duplicate-param",
            "grant_type=client_credentials&grant_type=client_credentials",
        ),
    ] {
        let mut seed = vec![pick];
        seed.extend_from_slice(form.as_bytes());
        write("oauth_form", name, seed);
    }
}
