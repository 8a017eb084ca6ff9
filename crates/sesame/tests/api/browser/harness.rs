//! A real headless Chromium for the page tests, driven over WebDriver (chromedriver).
//!
//! One chromedriver per test process, started on first use. It runs under a tiny shell
//! watchdog in its own process group: the shell waits on a pipe from this process and, when the
//! pipe closes (the test process ended, however it ended), kills the group — chromedriver and
//! every Chromium it started — so no browser outlives `cargo test`. SIGKILL: chromedriver
//! survived SIGTERM here.
//!
//! Each test gets its own browser (a fresh profile in a temp dir), at most two at a time on
//! these 2-core machines. [`with_browser`] runs a test body and, if it panics, saves a
//! screenshot and the page source into the test's temp dir and prints where.

use std::io::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt as _;
use futures::future::BoxFuture;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

/// Two browsers at once: each Chromium keeps a core busy while it renders.
static SLOTS: Semaphore = Semaphore::const_new(2);

struct Driver {
    port: u16,
    /// Held open for the life of the process; its closing ends the watchdog's wait.
    _lifeline: Mutex<ChildStdin>,
    _child: Mutex<Child>,
}

fn driver() -> &'static Driver {
    static DRIVER: OnceLock<Driver> = OnceLock::new();
    DRIVER.get_or_init(|| {
        let port = sesame_testkit::free_port().expect("a free port");
        let script = format!(
            "chromedriver --port={port} >/dev/null 2>&1 & read _ignored; kill -9 -$$"
        );
        let mut child = Command::new("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver) must be installed: scripts/test.sh installs it");
        let stdin = child.stdin.take().expect("piped stdin");
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Driver {
                    port,
                    _lifeline: Mutex::new(stdin),
                    _child: Mutex::new(child),
                };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(stdin);
        let _ = child.kill();
        let _ = child.wait();
        panic!("chromedriver did not listen on {port} within 10 s");
    })
}

/// How a browser is started.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// JavaScript off (Chrome's content setting), as for a person who turned it off.
    pub no_js: bool,
    /// A phone-sized window instead of a desktop one.
    pub phone: bool,
    /// `Accept-Language` of the browser.
    pub russian: bool,
}

/// A browser session: a WebDriver client and its profile directory.
pub struct Browser {
    pub client: Client,
    /// Where screenshots go when the test fails.
    artifacts: PathBuf,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn open(opts: Options, artifacts: PathBuf) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let size = if opts.phone { "412,915" } else { "1280,900" };
        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            format!("--window-size={size}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        if opts.russian {
            args.push("--lang=ru".into());
        }
        let mut prefs = serde_json::Map::new();
        if opts.no_js {
            prefs.insert(
                "profile.managed_default_content_settings.javascript".into(),
                json!(2),
            );
        }
        if opts.russian {
            prefs.insert("intl.accept_languages".into(), json!("ru-RU,ru"));
        }
        let caps = json!({
            "browserName": "chrome",
            // The test apps serve HTTPS with a fresh self-signed certificate.
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args, "prefs": prefs},
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", driver().port))
            .await
            .expect("a Chromium session");
        Browser {
            client,
            artifacts,
            _profile: profile,
        }
    }

    /// Gives the browser a virtual WebAuthn authenticator (W3C WebAuthn §11.3, the WebDriver
    /// extension chromedriver implements): a platform authenticator (CTAP2, "internal") that
    /// keeps discoverable credentials and verifies its user, as a laptop's fingerprint reader
    /// does. Returns its id.
    pub async fn add_virtual_authenticator(&self) -> String {
        let answer = self
            .client
            .issue_cmd(WebAuthnCommand {
                path: "webauthn/authenticator",
                method: reqwest::Method::POST,
                body: Some(json!({
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": true,
                    "hasUserVerification": true,
                    "isUserConsenting": true,
                    "isUserVerified": true,
                })),
            })
            .await
            .expect("chromedriver adds a virtual authenticator");
        answer.as_str().expect("an authenticator id").to_string()
    }

    /// Removes a virtual authenticator (WebDriver `Remove Virtual Authenticator`): the browser
    /// has no passkey until one is added again.
    pub async fn remove_virtual_authenticator(&self, authenticator: &str) {
        let path: &'static str =
            Box::leak(format!("webauthn/authenticator/{authenticator}").into_boxed_str());
        self.client
            .issue_cmd(WebAuthnCommand {
                path,
                method: reqwest::Method::DELETE,
                body: None,
            })
            .await
            .expect("chromedriver removes the authenticator");
    }

    /// Puts a credential (as [`Browser::virtual_credentials`] listed it) into a virtual
    /// authenticator (WebDriver `Add Credential`).
    pub async fn add_virtual_credential(&self, authenticator: &str, credential: &Value) {
        let path: &'static str = Box::leak(
            format!("webauthn/authenticator/{authenticator}/credential").into_boxed_str(),
        );
        self.client
            .issue_cmd(WebAuthnCommand {
                path,
                method: reqwest::Method::POST,
                body: Some(credential.clone()),
            })
            .await
            .expect("chromedriver adds the credential");
    }

    /// Waits (30 s at most) until the page is at `path`: for navigations a script starts.
    pub async fn wait_for_path(&self, path: &str) {
        for _ in 0..600 {
            if self.path().await == path {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the page did not reach {path} in 30 s (at {})",
            self.path().await
        );
    }

    /// The credentials a virtual authenticator holds (WebDriver `Get Credentials`).
    pub async fn virtual_credentials(&self, authenticator: &str) -> Vec<Value> {
        let path: &'static str = Box::leak(
            format!("webauthn/authenticator/{authenticator}/credentials").into_boxed_str(),
        );
        let answer = self
            .client
            .issue_cmd(WebAuthnCommand {
                path,
                method: reqwest::Method::GET,
                body: None,
            })
            .await
            .expect("chromedriver lists the credentials");
        answer.as_array().cloned().unwrap_or_default()
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// Types into the input whose `<label>` says `label` (found the way a person would).
    /// Retried while the page is being replaced (a form just posted, a link just followed):
    /// WebDriver may hand out an element of the page that is going away.
    pub async fn fill(&self, label: &str, text: &str) {
        self.fill_label(&format!("//label[normalize-space(.)={label:?}]"), text)
            .await
    }

    /// [`Browser::fill`] inside the form posting to `action`, for a page with several forms
    /// whose fields share a label ("Current password").
    pub async fn fill_in_form(&self, action: &str, label: &str, text: &str) {
        let xpath = format!("//form[@action={action:?}]//label[normalize-space(.)={label:?}]");
        self.fill_label(&xpath, text).await
    }

    async fn fill_label(&self, xpath: &str, text: &str) {
        let label = xpath;
        let mut last = None;
        for _ in 0..50 {
            let attempt = async {
                let l = self.client.find(Locator::XPath(xpath)).await?;
                let id = l.attr("for").await?.unwrap_or_default();
                let input = self.client.find(Locator::Id(&id)).await?;
                input.clear().await?;
                input.send_keys(text).await
            };
            match attempt.await {
                Ok(()) => return,
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no input labelled {label:?}: {last:?}");
    }

    /// Follows the link matching `css` and waits for the next page.
    pub async fn follow(&self, css: &str) {
        let before = self.client.current_url().await.unwrap();
        self.find(css).await.click().await.unwrap();
        // Generous: CI runs the whole suite beside the browser on two cores.
        for _ in 0..600 {
            if self.client.current_url().await.unwrap() != before {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("following {css} did not leave {before} in 30 s");
    }

    /// Clicks the button that says `text` (every button here submits a form) and waits until
    /// the page it leaves is gone, even when the next one has the same address (a refused
    /// form comes back at its own URL).
    pub async fn press(&self, text: &str) {
        let old = self.find("html").await;
        let xpath = format!("//button[normalize-space(.)={text:?}]");
        self.client
            .find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no button {text:?}: {e}"))
            .click()
            .await
            .unwrap();
        // Generous: a password check on a CI box shared with the whole suite can take seconds.
        for _ in 0..600 {
            if old.tag_name().await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("pressing {text:?} did not load another page in 30 s");
    }

    /// The text of the page, as a person reads it (retried while the page is being replaced).
    pub async fn text(&self) -> String {
        let mut last = None;
        for _ in 0..50 {
            let attempt = async { self.client.find(Locator::Css("body")).await?.text().await };
            match attempt.await {
                Ok(text) => return text,
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no page text: {last:?}");
    }

    pub async fn html(&self) -> String {
        self.client.source().await.unwrap()
    }

    /// The accessibility problems axe-core finds on the page (impact `serious` or `critical`).
    pub async fn axe_serious(&self) -> Vec<Value> {
        self.axe()
            .await
            .into_iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect()
    }

    /// Every violation axe-core finds (WCAG 2.1 A and AA rules and best practices).
    pub async fn axe(&self) -> Vec<Value> {
        let source = std::fs::read_to_string(axe_core()).unwrap();
        self.client
            .execute(&format!("{source}\nreturn true;"), vec![])
            .await
            .unwrap();
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})
                   .then(r => done(JSON.stringify(r.violations.map(v => ({
                       id: v.id, impact: v.impact, help: v.help,
                       nodes: v.nodes.map(n => n.target.join(' '))})))))
                   .catch(e => done(JSON.stringify([{id: 'axe-error', impact: 'critical', help: String(e)}])));",
                vec![],
            )
            .await
            .unwrap();
        serde_json::from_str(result.as_str().unwrap()).unwrap()
    }

    /// With `SESAME_SCREENSHOTS` set, saves a screenshot of the page as `docs/<name>.png` (the
    /// pictures in the docs are taken by the tests that check those pages; CI leaves them be).
    pub async fn screenshot_for_docs(&self, name: &str) {
        if std::env::var_os("SESAME_SCREENSHOTS").is_none() {
            return;
        }
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs")
            .join(format!("{name}.png"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, self.client.screenshot().await.unwrap()).unwrap();
    }

    /// Saves a screenshot and the page source under the artifacts dir; returns the paths.
    pub async fn save_artifacts(&self, name: &str) -> Vec<PathBuf> {
        std::fs::create_dir_all(&self.artifacts).unwrap();
        let mut saved = Vec::new();
        if let Ok(png) = self.client.screenshot().await {
            let p = self.artifacts.join(format!("{name}.png"));
            if std::fs::write(&p, png).is_ok() {
                saved.push(p);
            }
        }
        if let Ok(html) = self.client.source().await {
            let p = self.artifacts.join(format!("{name}.html"));
            if std::fs::write(&p, html).is_ok() {
                saved.push(p);
            }
        }
        saved
    }
}

/// axe-core from npm, installed once into `CARGO_TARGET_TMPDIR`; its `axe.min.js`.
fn axe_core() -> &'static Path {
    static AXE: OnceLock<PathBuf> = OnceLock::new();
    AXE.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("axe-core");
        let file = dir.join("node_modules/axe-core/axe.min.js");
        if !file.exists() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("package.json"),
                r#"{"name":"sesame-axe","private":true}"#,
            )
            .unwrap();
            sesame_testkit::tools::run_checked(
                Command::new("npm")
                    .args([
                        "install",
                        "--silent",
                        "--no-audit",
                        "--no-fund",
                        "axe-core@4",
                    ])
                    .current_dir(&dir),
            )
            .unwrap();
        }
        file
    })
}

/// Runs `test` in a fresh browser. If it panics, the page's screenshot and source are saved
/// under the test binary's temp dir (`CARGO_TARGET_TMPDIR/browser-failures/<name>/`, kept after
/// the run, unlike the app's own temp dir) and their paths printed, then the panic goes on.
pub async fn with_browser<F>(name: &str, opts: Options, test: F)
where
    F: for<'b> FnOnce(&'b Browser) -> BoxFuture<'b, ()>,
{
    let _slot = SLOTS.acquire().await.unwrap();
    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("browser-failures")
        .join(name);
    let browser = Browser::open(opts, artifacts).await;
    let outcome = std::panic::AssertUnwindSafe(test(&browser))
        .catch_unwind()
        .await;
    if let Err(panic) = outcome {
        let saved = browser.save_artifacts("failure").await;
        // The page's words too: CI keeps the log, not the files.
        let words: String = match browser.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let words: String = words.chars().take(800).collect();
        let _ = writeln!(
            std::io::stderr(),
            "browser test failed at {}; saved: {saved:?}; the page says: {words:?}",
            browser.path().await
        );
        let _ = browser.client.close().await;
        std::panic::resume_unwind(panic);
    }
    browser.client.close().await.unwrap();
}

/// A command of the WebDriver WebAuthn extension, on the current session.
#[derive(Debug)]
struct WebAuthnCommand {
    path: &'static str,
    method: reqwest::Method,
    body: Option<Value>,
}

impl fantoccini::wd::WebDriverCompatibleCommand for WebAuthnCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _url: &url::Url) -> (reqwest::Method, Option<String>) {
        (
            self.method.clone(),
            self.body.as_ref().map(Value::to_string),
        )
    }
}
