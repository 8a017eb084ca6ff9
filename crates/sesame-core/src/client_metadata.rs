//! The OAuth registration of a client (issue #18): its redirect URIs, grant types, whether it is
//! public or first-party, and its back-channel logout URI — checked as a whole, since the rules
//! tie them together (a code grant needs a redirect URI, a public client cannot hold a secret
//! grant...). Used by the admin API and the CLI, and meant for RFC 7591 registration too.

use crate::domain::RedirectUri;
use crate::error::FieldErrors;

pub const CLIENT_CREDENTIALS: &str = "client_credentials";
pub const AUTHORIZATION_CODE: &str = "authorization_code";
pub const REFRESH_TOKEN: &str = "refresh_token";
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// Every grant type a client may be registered for.
pub const GRANT_TYPES: [&str; 4] = [
    CLIENT_CREDENTIALS,
    AUTHORIZATION_CODE,
    REFRESH_TOKEN,
    TOKEN_EXCHANGE,
];

/// Registered URIs per list, at most.
const MAX_URIS: usize = 20;

/// The OAuth fields of a client as asked for.
#[derive(Debug, Clone, Default)]
pub struct OAuthFields {
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// `None`: the defaults — a code-flow app (`authorization_code`, `refresh_token`) when it
    /// has redirect URIs or is public, else a service (`client_credentials`, token exchange), as
    /// clients were before they had grant types.
    pub grant_types: Option<Vec<String>>,
    pub public: bool,
    pub first_party: bool,
    pub backchannel_logout_uri: Option<String>,
}

impl OAuthFields {
    /// The fields with defaults filled in, or what is wrong, by field, added to `errors`.
    pub(crate) fn check(self, errors: &mut FieldErrors) -> OAuthFields {
        let mut problem = |field: &str, text: String| {
            errors.entry(field.into()).or_default().push(text);
        };
        let grant_types = match self.grant_types {
            Some(g) => dedup(g),
            None if !self.redirect_uris.is_empty() || self.public => {
                vec![AUTHORIZATION_CODE.into(), REFRESH_TOKEN.into()]
            }
            None => vec![CLIENT_CREDENTIALS.into(), TOKEN_EXCHANGE.into()],
        };
        if grant_types.is_empty() {
            problem("grant_types", "at least one grant type is required".into());
        }
        for g in grant_types
            .iter()
            .filter(|g| !GRANT_TYPES.contains(&g.as_str()))
        {
            problem(
                "grant_types",
                format!("'{g}' is not one of {}", GRANT_TYPES.join(", ")),
            );
        }
        let has = |g: &str| grant_types.iter().any(|x| x == g);
        let code = has(AUTHORIZATION_CODE);
        if has(REFRESH_TOKEN) && !code {
            problem(
                "grant_types",
                "refresh_token is issued only with authorization_code".into(),
            );
        }
        if self.public {
            for g in [CLIENT_CREDENTIALS, TOKEN_EXCHANGE]
                .into_iter()
                .filter(|g| has(g))
            {
                problem(
                    "grant_types",
                    format!("a public client has no secret, so it cannot use {g}"),
                );
            }
        }
        let redirect_uris = dedup(self.redirect_uris);
        if code && redirect_uris.is_empty() {
            problem(
                "redirect_uris",
                "authorization_code needs at least one redirect URI".into(),
            );
        }
        if !code && !redirect_uris.is_empty() {
            problem(
                "redirect_uris",
                "redirect URIs are used only with authorization_code".into(),
            );
        }
        check_uris("redirect_uris", &redirect_uris, &mut problem);
        let post_logout_redirect_uris = dedup(self.post_logout_redirect_uris);
        if !code && !post_logout_redirect_uris.is_empty() {
            problem(
                "post_logout_redirect_uris",
                "used only with authorization_code".into(),
            );
        }
        check_uris(
            "post_logout_redirect_uris",
            &post_logout_redirect_uris,
            &mut problem,
        );
        let backchannel_logout_uri = self.backchannel_logout_uri.filter(|u| !u.is_empty());
        if let Some(u) = &backchannel_logout_uri {
            // The redirect-URI rules, but a server is reached over HTTP: no private-use scheme.
            match RedirectUri::parse(u) {
                Ok(_) if u.starts_with("https://") || u.starts_with("http://") => {
                    if !code {
                        problem(
                            "backchannel_logout_uri",
                            "used only with authorization_code".into(),
                        );
                    }
                }
                Ok(_) => problem(
                    "backchannel_logout_uri",
                    "must be https://, or http:// on a loopback address".into(),
                ),
                Err(e) => problem("backchannel_logout_uri", format!("'{u}': {e}")),
            }
        }
        OAuthFields {
            redirect_uris,
            post_logout_redirect_uris,
            grant_types: Some(grant_types),
            public: self.public,
            first_party: self.first_party,
            backchannel_logout_uri,
        }
    }
}

fn check_uris(field: &str, uris: &[String], problem: &mut impl FnMut(&str, String)) {
    if uris.len() > MAX_URIS {
        problem(field, format!("at most {MAX_URIS}"));
    }
    for u in uris {
        if let Err(e) = RedirectUri::parse(u) {
            problem(field, format!("'{u}': {e}"));
        }
    }
}

/// Order kept (the first audience is a client's default), duplicates dropped.
pub(crate) fn dedup(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for x in v {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(f: OAuthFields) -> Result<OAuthFields, FieldErrors> {
        let mut errors = FieldErrors::new();
        let out = f.check(&mut errors);
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn defaults_keep_services_as_they_were_and_make_apps_code_clients() {
        let service = check(OAuthFields::default()).unwrap();
        assert_eq!(
            service.grant_types.unwrap(),
            [CLIENT_CREDENTIALS, TOKEN_EXCHANGE]
        );
        let app = check(OAuthFields {
            redirect_uris: strings(&["https://app.example.com/cb"]),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            app.grant_types.unwrap(),
            [AUTHORIZATION_CODE, REFRESH_TOKEN]
        );
        let spa = check(OAuthFields {
            redirect_uris: strings(&["https://spa.example.com/cb"]),
            public: true,
            ..Default::default()
        })
        .unwrap();
        assert!(spa.public);
    }

    #[test]
    fn the_rules_that_tie_the_fields_together() {
        let refused = |f: OAuthFields, field: &str| {
            let e = check(f).unwrap_err();
            assert!(e.contains_key(field), "{e:?}");
        };
        refused(
            OAuthFields {
                grant_types: Some(strings(&[AUTHORIZATION_CODE])),
                ..Default::default()
            },
            "redirect_uris",
        );
        refused(
            OAuthFields {
                grant_types: Some(strings(&["password"])),
                ..Default::default()
            },
            "grant_types",
        );
        refused(
            OAuthFields {
                grant_types: Some(strings(&["implicit"])),
                ..Default::default()
            },
            "grant_types",
        );
        refused(
            OAuthFields {
                grant_types: Some(vec![]),
                ..Default::default()
            },
            "grant_types",
        );
        refused(
            OAuthFields {
                grant_types: Some(strings(&[CLIENT_CREDENTIALS, REFRESH_TOKEN])),
                ..Default::default()
            },
            "grant_types",
        );
        refused(
            OAuthFields {
                public: true,
                grant_types: Some(strings(&[CLIENT_CREDENTIALS])),
                ..Default::default()
            },
            "grant_types",
        );
        refused(
            OAuthFields {
                redirect_uris: strings(&["https://app.example.com/cb"]),
                grant_types: Some(strings(&[CLIENT_CREDENTIALS])),
                ..Default::default()
            },
            "redirect_uris",
        );
        refused(
            OAuthFields {
                redirect_uris: strings(&["https://*.example.com/cb"]),
                ..Default::default()
            },
            "redirect_uris",
        );
        refused(
            OAuthFields {
                redirect_uris: strings(&["https://app.example.com/cb"]),
                post_logout_redirect_uris: strings(&["javascript:alert(1)"]),
                ..Default::default()
            },
            "post_logout_redirect_uris",
        );
        refused(
            OAuthFields {
                redirect_uris: strings(&["https://app.example.com/cb"]),
                backchannel_logout_uri: Some("com.example.app:/logout".into()),
                ..Default::default()
            },
            "backchannel_logout_uri",
        );
        refused(
            OAuthFields {
                redirect_uris: strings(&["https://app.example.com/cb"]),
                backchannel_logout_uri: Some("http://app.example.com/logout".into()),
                ..Default::default()
            },
            "backchannel_logout_uri",
        );
        let many: Vec<String> = (0..21)
            .map(|i| format!("https://app.example.com/cb{i}"))
            .collect();
        refused(
            OAuthFields {
                redirect_uris: many,
                ..Default::default()
            },
            "redirect_uris",
        );
        // A loopback back-channel URI is fine (API.md: no further setting needed).
        let ok = check(OAuthFields {
            redirect_uris: strings(&["http://127.0.0.1/cb", "http://127.0.0.1/cb"]),
            backchannel_logout_uri: Some("http://127.0.0.1:9000/logout".into()),
            first_party: true,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            ok.redirect_uris,
            ["http://127.0.0.1/cb"],
            "duplicates dropped"
        );
        assert!(ok.first_party);
    }
}
