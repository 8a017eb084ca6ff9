//! The browser pages over plain HTTP, form by form: status codes per outcome, the header set,
//! cookies, CSRF, open redirects, fixation. (A real Chromium walks the same pages in
//! `tests/api/browser`.) [`FormClient`] behaves like a browser without JavaScript: it keeps
//! cookies, follows nothing by itself, and posts each form with the token of the page it came from.

mod account;
mod console;
mod passkeys;
mod recovery;
mod second_factor;
mod security;
mod signin;
mod signup;

use std::collections::BTreeMap;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::helpers::*;

/// What a page answered.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `Set-Cookie` line for cookie `name`, if any.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_string)
    }

    /// The anti-forgery token of the page's (first) form.
    pub fn csrf_token(&self) -> Option<String> {
        input_value(&self.body, "csrf_token")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// The `value` of the `<input>` named `name` in `html`.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\"");
    let at = html.find(&needle)?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    let tag = &html[start..end];
    let v = tag.find("value=\"")? + "value=\"".len();
    let value = &tag[v..];
    Some(
        value[..value.find('"')?]
            .replace("&#x2f;", "/")
            .replace("&amp;", "&"),
    )
}

/// A cookie-keeping, non-redirecting client that posts forms like a browser would.
pub struct FormClient<'a> {
    pub app: &'a TestApp,
    client: reqwest::Client,
    pub jar: BTreeMap<String, String>,
    /// The token of the last page that had a form.
    pub token: Option<String>,
    /// Sent as `Origin` on posts (the app's own by default).
    pub origin: Option<String>,
    pub accept_language: Option<String>,
}

impl<'a> FormClient<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&app.cert_pem).unwrap())
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0")
            .build()
            .unwrap();
        FormClient {
            app,
            client,
            jar: BTreeMap::new(),
            token: None,
            origin: Some(app.base.clone()),
            accept_language: None,
        }
    }

    fn cookie_header(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let mut req = req.header("cookie", self.cookie_header());
        if let Some(l) = &self.accept_language {
            req = req.header("accept-language", l);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        for c in headers.get_all("set-cookie").iter() {
            let c = c.to_str().unwrap();
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.jar.remove(k);
            } else {
                self.jar.insert(k.to_string(), v.to_string());
            }
        }
        let body = res.text().await.unwrap();
        let page = Page {
            status,
            headers,
            body,
        };
        if let Some(t) = page.csrf_token() {
            self.token = Some(t);
        }
        page
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let req = self.client.get(self.app.url(path));
        self.send(req).await
    }

    /// Posts `fields` with the last page's token (unless `fields` has its own `csrf_token`).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut form: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if !fields.iter().any(|(k, _)| *k == "csrf_token")
            && let Some(t) = &self.token
        {
            form.push(("csrf_token".into(), t.clone()));
        }
        let mut req = self.client.post(self.app.url(path)).form(&form);
        if let Some(o) = &self.origin {
            req = req.header("origin", o);
        }
        self.send(req).await
    }

    /// Signs in through the page; asserts it worked.
    pub async fn sign_in(&mut self, identifier: &str, password: &str) -> Page {
        self.get("/signin").await;
        let page = self
            .post(
                "/signin",
                &[("identifier", identifier), ("password", password)],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        page
    }

    pub fn session_cookie(&self) -> Option<&String> {
        self.jar.get("__Host-sesame")
    }
}
