//! Issue #18: real relying parties sign a person in through Sesame, in a real headless Chromium.
//! The documentation's examples run as they are: docs/examples/rp_openid_client.mjs (Node's
//! openid-client, OpenID-certified, as a public client) and docs/examples/rp_authlib.py (Authlib's
//! Flask client, confidential, HTTP Basic). Each does discovery, the authorization with PKCE,
//! state and nonce, the code exchange with its own ID-token validation, userinfo, a refresh and
//! RP-initiated logout; the browser signs in on Sesame's page and answers its consent page, once
//! with "Deny" (the library must report `access_denied`), then with "Allow".
//!
//! The examples print one JSON line per step (never a token); the test reads them in order.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::harness::{Browser, Options, with_browser};
use crate::helpers::*;
use crate::interop::trust_app;
use crate::tools;

/// How long one step of the flow may take (a cold Python or Node start included).
const STEP: Duration = Duration::from_secs(30);

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../docs/examples/{name}"))
}

/// A Sesame whose issuer is the address the relying parties reach: they fetch the discovery
/// document from the issuer and check that it names that very issuer, so the app listens on a
/// port chosen here rather than on port 0. ID tokens are RS256 (`SESAME_ID_TOKEN_ALG`'s default),
/// the one algorithm every OpenID library accepts without configuration.
async fn sesame() -> TestApp {
    let port = free_port().expect("a free port");
    let app = spawn_app_with(&[
        ("SESAME_LISTEN", &format!("127.0.0.1:{port}")),
        ("SESAME_ISSUER", &format!("https://localhost:{port}")),
    ])
    .await;
    assert_eq!(app.sesame.settings().issuer, app.base);
    app
}

/// A third-party app (so the consent page shows) with a loopback redirect URI for any port and
/// the exact post-logout URI of the relying party on `rp_port`; its (id, secret).
/// With `backchannel`, Sesame also tells the app of logouts at its `/backchannel`.
async fn register(
    app: &TestApp,
    public: bool,
    rp_port: u16,
    backchannel: bool,
) -> (String, Option<String>) {
    let admin = app.new_admin().await.tokens.access;
    let res = app
        .post_auth(
            "/admin/clients",
            &admin,
            json!({
                "name": "Photo Book",
                "audiences": ["api"],
                "public": public,
                "redirect_uris": ["http://127.0.0.1/cb"],
                "post_logout_redirect_uris": [format!("http://127.0.0.1:{rp_port}/bye")],
                "grant_types": ["authorization_code", "refresh_token"],
                "backchannel_logout_uri": backchannel.then(|| format!("http://127.0.0.1:{rp_port}/backchannel")),
            }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let b = body(res).await;
    assert_eq!(b["first_party"], false);
    (
        b["client_id"].as_str().unwrap().to_string(),
        b["client_secret"].as_str().map(str::to_string),
    )
}

/// A relying party running as a child process: its stdout lines as they come, its stderr kept
/// for the failure message.
struct RelyingParty {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl RelyingParty {
    fn start(app: &TestApp, mut cmd: Command) -> RelyingParty {
        trust_app(app, &mut cmd);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        let (tx, lines) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().unwrap();
        // Plain threads: the pipes block, and the channel closes when the child's stdout does.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let (mut pipe, sink) = (child.stderr.take().unwrap(), stderr.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        RelyingParty {
            child,
            lines,
            stderr,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The next line, which must report `event`.
    async fn next(&mut self, event: &str) -> Value {
        self.next_of(&[event]).await
    }

    /// The next line, which must report one of `events` (steps whose order is not fixed).
    async fn next_of(&mut self, events: &[&str]) -> Value {
        let event = events.join(" or ");
        let line = match tokio::time::timeout(STEP, self.lines.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => panic!(
                "the relying party ended before {event:?}:\n{}",
                self.stderr()
            ),
            Err(_) => panic!(
                "no {event:?} from the relying party within {STEP:?}:\n{}",
                self.stderr()
            ),
        };
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}\n{}", self.stderr()));
        assert!(
            events.iter().any(|e| v["event"] == *e),
            "expected {event}: {v}\n{}",
            self.stderr()
        );
        v
    }

    /// Waits for the relying party to exit by itself (its stdout closes) and asserts success.
    async fn finished(mut self) {
        match tokio::time::timeout(STEP, self.lines.recv()).await {
            Ok(None) => {}
            Ok(Some(line)) => panic!("more from the relying party: {line}"),
            Err(_) => panic!("the relying party did not exit:\n{}", self.stderr()),
        }
        // Its stdout is closed: it is exiting, this wait is short.
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}:\n{}", self.stderr());
    }
}

impl Drop for RelyingParty {
    fn drop(&mut self) {
        let _ = sesame_testkit::process::terminate(&mut self.child, Duration::from_secs(5));
    }
}

/// The query of `url` as a map.
fn query(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap_or_else(|e| panic!("{url}: {e}"))
        .query_pairs()
        .into_owned()
        .collect()
}

/// Waits until the browser's page is at `prefix` (the app answers after it reported the step).
async fn until_path(b: &Browser, prefix: &str) {
    for _ in 0..200 {
        if b.path().await.starts_with(prefix) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the browser did not reach {prefix}: {}", b.path().await);
}

/// The whole journey, the same for every library: the refused authorization, then the one that
/// signs in, the results the library reports, and the logout.
/// With `backchannel`, the app must also receive and validate Sesame's back-channel logout.
async fn sign_in_and_out(
    name: &str,
    app: TestApp,
    mut rp: RelyingParty,
    client_id: String,
    backchannel: bool,
) {
    let issuer = app.base.clone();
    assert_eq!(rp.next("discovered").await["issuer"], issuer);
    let login = rp.next("listening").await["login"]
        .as_str()
        .unwrap()
        .to_string();
    let user = app.new_user().await;
    with_browser(name, Options::default(), move |b| {
        Box::pin(async move {
            // The app sends the browser to Sesame with everything a code flow needs.
            b.goto(&login).await;
            let asked = query(rp.next("authorize").await["url"].as_str().unwrap());
            assert_eq!(asked["response_type"], "code");
            assert_eq!(asked["client_id"], client_id);
            assert_eq!(asked["code_challenge_method"], "S256");
            assert_eq!(asked["scope"], "openid email profile offline_access");
            for param in ["code_challenge", "state", "nonce"] {
                assert!(asked[param].len() >= 16, "{param}: {asked:?}");
            }
            assert!(
                asked["redirect_uri"].starts_with("http://127.0.0.1:"),
                "{asked:?}"
            );
            assert!(
                b.path().await.starts_with("/signin?return_to="),
                "{}",
                b.path().await
            );
            b.fill("Username or email", &user.email).await;
            b.fill("Password", PASSWORD).await;
            b.press("Sign in").await;
            assert!(b.path().await.starts_with("/oauth/authorize?"));
            assert!(b.text().await.contains("Photo Book"), "the consent page");

            // "Deny": the app hears access_denied, with its state and Sesame's iss.
            b.press("Deny").await;
            let refused = rp.next("refused").await;
            assert_eq!(refused["error"], "access_denied", "{refused}");
            assert_eq!(refused["params"]["state"], asked["state"].as_str());
            assert_eq!(refused["params"]["iss"], issuer);
            assert!(b.path().await.starts_with("/cb?error=access_denied"));

            // Again, and "Allow": still signed in at Sesame, so straight to the consent page.
            b.follow("a[href='/login']").await;
            let again = query(rp.next("authorize").await["url"].as_str().unwrap());
            assert_ne!(again["state"], asked["state"], "a fresh state");
            assert_ne!(again["nonce"], asked["nonce"], "a fresh nonce");
            b.find("button[value='allow']").await;
            assert!(b.text().await.contains("Photo Book"), "the consent page");
            b.press("Allow").await;
            let signed_in = rp.next("signed_in").await;
            assert!(b.path().await.starts_with("/cb?code="));
            assert_eq!(
                signed_in["id_token"],
                json!({"sub": user.id, "aud": client_id, "email": user.email, "nonce": again["nonce"]}),
                "the ID token, validated by the library"
            );
            assert_eq!(signed_in["scope"], "email offline_access openid profile");
            let info = rp.next("userinfo").await;
            assert_eq!(
                info,
                json!({"event": "userinfo", "sub": user.id, "email": user.email, "name": user.username})
            );
            let refreshed = rp.next("refreshed").await;
            assert_eq!(refreshed["new_access_token"], true, "{refreshed}");
            assert_eq!(refreshed["new_refresh_token"], true, "rotated: {refreshed}");
            assert_eq!(refreshed["id_token_sub"], user.id);

            // Sign out at the app: RP-initiated logout at Sesame, then back at the app.
            b.follow("a[href='/logout']").await;
            let logout = query(rp.next("logout").await["url"].as_str().unwrap());
            assert!(logout["id_token_hint"].len() > 100, "{logout:?}");
            let state = &logout["state"];
            // The browser back at the app, and (when registered) Sesame's back-channel logout,
            // in whichever order they come.
            let mut bye = Value::Null;
            for _ in 0..if backchannel { 2 } else { 1 } {
                let got = rp.next_of(&["bye", "backchannel"]).await;
                if got["event"] == "backchannel" {
                    assert_eq!(
                        got,
                        json!({"event": "backchannel", "valid": true, "sub": user.id, "sid_matches": true}),
                        "the logout token, validated by the library"
                    );
                } else {
                    bye = got;
                }
            }
            until_path(b, "/bye").await;
            assert_eq!(b.path().await, format!("/bye?state={state}"));
            assert_eq!(bye["state"], state.as_str());
            assert_eq!(bye["state_matches"], true);
            assert_eq!(
                bye["userinfo_after_logout"], 401,
                "the app's token ended with the session"
            );
            rp.finished().await;
            b.goto(&format!("{issuer}/account")).await;
            assert!(
                b.path().await.starts_with("/signin"),
                "Sesame's session is over: {}",
                b.path().await
            );
        })
    })
    .await;
}

#[tokio::test]
async fn openid_client_signs_a_person_in_and_out_as_a_public_client() {
    let node_dir = tokio::task::spawn_blocking(tools::node).await.unwrap();
    let app = sesame().await;
    let rp_port = free_port().expect("a free port");
    let (client_id, secret) = register(&app, true, rp_port, false).await;
    assert_eq!(secret, None, "a public client has no secret");
    // Node resolves `openid-client` from the script's own directory.
    let script = node_dir.join("rp_openid_client.mjs");
    std::fs::copy(example("rp_openid_client.mjs"), &script).unwrap();
    let mut cmd = Command::new("node");
    cmd.arg(&script)
        .current_dir(&node_dir)
        .env("SESAME_ISSUER", &app.base)
        .env("CLIENT_ID", &client_id)
        .env("PORT", rp_port.to_string());
    let rp = RelyingParty::start(&app, cmd);
    sign_in_and_out("rp_openid_client", app, rp, client_id, false).await;
}

#[tokio::test]
async fn authlib_signs_a_person_in_and_out_as_a_confidential_client() {
    let py = tokio::task::spawn_blocking(tools::python).await.unwrap();
    let app = sesame().await;
    let rp_port = free_port().expect("a free port");
    let (client_id, secret) = register(&app, false, rp_port, true).await;
    let mut cmd = Command::new(py);
    cmd.arg(example("rp_authlib.py"))
        .env("SESAME_ISSUER", &app.base)
        .env("CLIENT_ID", &client_id)
        .env(
            "CLIENT_SECRET",
            secret.expect("a confidential client's secret"),
        )
        .env("PORT", rp_port.to_string())
        .env("BACKCHANNEL", "1");
    let rp = RelyingParty::start(&app, cmd);
    sign_in_and_out("rp_authlib", app, rp, client_id, true).await;
}
