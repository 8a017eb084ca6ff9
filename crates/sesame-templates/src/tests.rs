//! The templates as an interface: every one renders with its documented variables, a missing
//! variable is an error (at load for an override), the catalogues agree, the HTML keeps its
//! promises (labels, no inline script or style, escaping).

use std::collections::BTreeSet;

use super::*;

fn templates() -> Templates {
    Templates::load(None, Branding::default()).expect("the built-ins load")
}

fn layout() -> Layout {
    Layout::samples().remove(0)
}

/// Every page type's template and the top-level keys of its samples.
fn pages() -> Vec<(&'static str, BTreeSet<String>)> {
    fn keys<P: Page>() -> (&'static str, BTreeSet<String>) {
        let mut keys = BTreeSet::new();
        for s in P::samples() {
            if let serde_json::Value::Object(m) = serde_json::to_value(&s).unwrap() {
                keys.extend(m.keys().cloned());
            }
        }
        (P::TEMPLATE, keys)
    }
    vec![
        keys::<SignIn>(),
        keys::<SignInMfa>(),
        keys::<SignUp>(),
        keys::<CheckEmail>(),
        keys::<ForgotPassword>(),
        keys::<ResetPassword>(),
        keys::<VerifyEmail>(),
        keys::<SignOut>(),
        keys::<ErrorPage>(),
        keys::<AccountProfile>(),
        keys::<AccountSecurity>(),
        keys::<AccountSessions>(),
        keys::<Consent>(),
        keys::<SignedOut>(),
        keys::<AccountApps>(),
        keys::<ConsoleHome>(),
        keys::<ConsoleUsers>(),
        keys::<ConsoleUser>(),
        keys::<ConsoleClients>(),
        keys::<ConsoleKeys>(),
        keys::<ConsoleAudit>(),
        keys::<ConsoleWebhooks>(),
        keys::<ConsoleWebhook>(),
    ]
}

#[test]
fn every_page_template_is_a_page_type_that_load_checks() {
    let page_templates: BTreeSet<&str> = builtin::TEMPLATES
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| n.starts_with("pages/"))
        .collect();
    let typed: BTreeSet<&str> = pages().into_iter().map(|(t, _)| t).collect();
    assert_eq!(
        page_templates, typed,
        "a page template without a context type (or the reverse)"
    );
}

#[test]
fn every_built_in_template_renders_every_sample_in_both_languages() {
    // What `load` does for overrides, done here for the built-ins (so a start without
    // overrides need not): every page, every sample, every layout, both languages.
    let t = templates();
    contexts::check_all(&t).unwrap();
    for lang in Lang::ALL {
        let html = t.render(lang, &layout(), &SignIn::default()).unwrap();
        assert!(html.contains(&format!("<html lang=\"{}\">", lang.code())));
        assert!(
            !html.contains("signin-"),
            "a message id leaked into the page: {html}"
        );
    }
}

#[test]
fn a_context_without_a_documented_variable_fails_to_render() {
    #[derive(serde::Serialize)]
    struct Partial {
        identifier: String,
    }
    impl Page for Partial {
        const TEMPLATE: &'static str = "pages/signin.html";
        fn samples() -> Vec<Self> {
            Vec::new()
        }
    }
    let err = templates()
        .render(
            Lang::En,
            &layout(),
            &Partial {
                identifier: "x".into(),
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("pages/signin.html"), "{err}");
}

#[test]
fn an_override_using_an_unknown_variable_stops_the_load_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("pages")).unwrap();
    std::fs::write(
        dir.path().join("pages/signin.html"),
        "{% extends \"base.html\" %}{% block content %}{{ user.name }}{% endblock %}",
    )
    .unwrap();
    let err = Templates::load(Some(dir.path()), Branding::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("pages/signin.html"), "{msg}");
    assert!(msg.contains("undefined"), "{msg}");
}

#[test]
fn an_override_with_a_syntax_error_stops_the_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("base.html"), "{% block content %}").unwrap();
    let err = Templates::load(Some(dir.path()), Branding::default()).unwrap_err();
    assert!(err.to_string().contains("base.html"), "{err}");
}

#[test]
fn an_unknown_file_in_the_override_dir_stops_the_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("signin.html"), "misplaced").unwrap();
    let err = Templates::load(Some(dir.path()), Branding::default()).unwrap_err();
    assert!(matches!(err, TemplateError::UnknownFile { .. }), "{err}");
    assert!(
        err.to_string().contains("pages/signin.html"),
        "the known names are listed: {err}"
    );
}

#[test]
fn a_working_override_replaces_the_built_in() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("pages")).unwrap();
    std::fs::write(
        dir.path().join("pages/signout.html"),
        "{% extends \"base.html\" %}{% block content %}<p>Bye from ACME, {{ product_name }}</p>\
         <form method=\"post\" action=\"/signout\"><input type=\"hidden\" name=\"csrf_token\" value=\"{{ csrf_token }}\">\
         <button>{{ t(\"signout-submit\") }}</button></form>{% endblock %}",
    )
    .unwrap();
    let t = Templates::load(Some(dir.path()), Branding::default()).unwrap();
    assert_eq!(t.overridden(), ["pages/signout.html"]);
    let html = t.render(Lang::Ru, &layout(), &SignOut {}).unwrap();
    assert!(html.contains("Bye from ACME, Sesame"));
    assert!(html.contains("Выйти"));
}

#[test]
fn both_catalogues_have_the_same_messages_and_every_template_message_exists() {
    let en: BTreeSet<String> = i18n::ids(i18n::source(Lang::En)).into_iter().collect();
    let ru: BTreeSet<String> = i18n::ids(i18n::source(Lang::Ru)).into_iter().collect();
    assert_eq!(
        en.symmetric_difference(&ru).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "ids in one catalogue only"
    );
    let t = templates();
    for (name, src) in builtin::TEMPLATES {
        for piece in src.split("t(\"").skip(1) {
            let id = &piece[..piece.find('"').unwrap()];
            if id.ends_with('-') {
                // A prefix completed at render time (`t("lang-name-" ~ code)`).
                assert!(
                    en.iter().any(|m| m.starts_with(id)),
                    "{name}: no message starts with {id}"
                );
                continue;
            }
            for lang in Lang::ALL {
                assert!(
                    t.has_message(lang, id),
                    "{name}: t(\"{id}\") missing in {}",
                    lang.code()
                );
            }
        }
    }
    // Ids the pages module uses from Rust (notices, errors) exist too.
    for id in [
        "signin-invalid",
        "signin-locked",
        "signin-disabled",
        "signin-email-not-verified",
        "signin-mfa-invalid",
        "signup-email-taken",
        "signup-username-taken",
        "account-wrong-password",
        "sessions-device-unknown",
        "error-csrf-title",
        "error-csrf",
        "error-not-found-title",
        "error-not-found",
        "error-rate-limited-title",
        "error-rate-limited",
        "error-unavailable-title",
        "error-unavailable",
        "error-internal-title",
        "error-internal",
        "notice-profile-saved",
        "notice-email-change-sent",
        "notice-password-changed",
        "notice-password-reset",
        "notice-session-ended",
        "notice-sessions-ended",
        "notice-signed-out",
        "notice-app-removed",
        "sessions-kind-api",
        "sessions-kind-browser",
        "error-unknown-client-title",
        "error-unknown-client",
        "error-invalid-redirect-uri",
        "error-logout-redirect",
        "error-bad-id-token-hint",
    ] {
        assert!(en.contains(id), "{id}");
    }
}

#[test]
fn plurals_follow_each_language() {
    let t = templates();
    let m = |lang, n: f64| t.message(lang, "signin-locked", &[("minutes", MessageArg::Num(n))]);
    assert!(m(Lang::En, 1.0).contains("1 minute."));
    assert!(m(Lang::En, 5.0).contains("5 minutes."));
    assert!(m(Lang::Ru, 1.0).contains("1 минуту"));
    assert!(m(Lang::Ru, 3.0).contains("3 минуты"));
    assert!(m(Lang::Ru, 15.0).contains("15 минут"));
}

#[test]
fn user_values_are_escaped() {
    let page = AccountProfile {
        email: "a@example.com".into(),
        display_name: Some("<script>alert(1)</script>".into()),
        ..Default::default()
    };
    let html = templates().render(Lang::En, &layout(), &page).unwrap();
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(html.contains("&lt;script&gt;"));
}

#[test]
fn built_ins_have_labels_for_every_input_and_no_inline_script_or_style() {
    let t = templates();
    let mut rendered = Vec::new();
    for layout in Layout::samples() {
        rendered.push(
            t.render(Lang::En, &layout, &SignIn::samples().remove(1))
                .unwrap(),
        );
        rendered.push(
            t.render(Lang::En, &layout, &SignUp::samples().remove(1))
                .unwrap(),
        );
        rendered.push(
            t.render(Lang::En, &layout, &AccountProfile::samples().remove(1))
                .unwrap(),
        );
        rendered.push(
            t.render(Lang::En, &layout, &AccountSecurity::samples().remove(1))
                .unwrap(),
        );
        rendered.push(
            t.render(Lang::En, &layout, &ResetPassword::samples().remove(0))
                .unwrap(),
        );
        rendered.push(
            t.render(Lang::En, &layout, &ForgotPassword::samples().remove(1))
                .unwrap(),
        );
        rendered.push(
            t.render(Lang::En, &layout, &AccountSessions::samples().remove(1))
                .unwrap(),
        );
    }
    for html in &rendered {
        // The one script is the passkeys' file, from 'self' (CSP): never inline.
        for script in html.split("<script").skip(1) {
            let tag = &script[..script.find("</script>").unwrap()];
            assert_eq!(
                tag, " src=\"/static/passkeys.js\" defer>",
                "no inline script in built-ins"
            );
        }
        assert!(!html.contains("style="), "no inline style (CSP)");
        assert!(!html.contains("<style"), "no inline style (CSP)");
        for input in html.split("<input").skip(1) {
            let tag = &input[..input.find('>').unwrap()];
            if tag.contains("type=\"hidden\"") {
                continue;
            }
            let id = tag
                .split("id=\"")
                .nth(1)
                .map(|r| &r[..r.find('"').unwrap()])
                .unwrap();
            assert!(
                html.contains(&format!("<label for=\"{id}\">")),
                "input {id} has no label"
            );
            assert!(
                tag.contains("autocomplete=\""),
                "input {id} has no autocomplete"
            );
        }
        for form in html.split("<form").skip(1) {
            assert!(
                form.contains("name=\"csrf_token\""),
                "a form without its token"
            );
        }
    }
    // Errors are tied to their field.
    let signup = &rendered[1];
    assert!(
        signup.contains("aria-describedby=\"password-hint password-error\""),
        "{signup}"
    );
    assert!(signup.contains("aria-invalid=\"true\""));
}

#[test]
fn the_stylesheet_takes_the_accent_colour_and_nothing_else() {
    let t = Templates::load(
        None,
        Branding {
            product_name: "ACME".into(),
            accent_color: "#0a7".into(),
        },
    )
    .unwrap();
    assert!(t.css().contains("--accent: #0a7;"));
    assert!(t.css().contains("prefers-color-scheme: dark"));
    assert!(!t.css().contains("url("), "nothing loaded from anywhere");
    let hostile = Templates::load(
        None,
        Branding {
            product_name: "x".into(),
            accent_color: "red;} body{display:none".into(),
        },
    )
    .unwrap();
    assert!(
        hostile
            .css()
            .contains(&format!("--accent: {DEFAULT_ACCENT};"))
    );
    let html = t.render(Lang::En, &layout(), &SignIn::default()).unwrap();
    assert!(html.contains("<title>Sign in · ACME</title>"));
}

#[test]
fn language_links_keep_the_rest_of_the_address() {
    let mut l = layout();
    l.here = "/reset-password?token=abc".into();
    let html = templates()
        .render(Lang::En, &l, &ResetPassword::samples().remove(0))
        .unwrap();
    assert!(html.contains("token=abc&amp;lang=ru"), "{html}");
}

#[test]
fn docs_pages_md_names_every_variable_of_every_template() {
    let doc = include_str!("../../../docs/pages.md");
    let section = doc
        .split("## Template variables")
        .nth(1)
        .expect("docs/pages.md has a 'Template variables' section");
    for (template, keys) in pages() {
        let at = section
            .find(&format!("`{template}`"))
            .unwrap_or_else(|| panic!("docs/pages.md does not document {template}"));
        let rest = &section[at..];
        let entry = &rest[..rest[1..].find("\n### ").map_or(rest.len(), |i| i + 1)];
        for key in keys {
            assert!(
                entry.contains(&format!("`{key}`")),
                "{template}: `{key}` undocumented"
            );
        }
    }
    for key in [
        "lang",
        "product_name",
        "csrf_token",
        "signed_in",
        "notice",
        "signup_enabled",
        "here",
    ] {
        assert!(
            section.contains(&format!("`{key}`")),
            "layout variable `{key}` undocumented"
        );
    }
}

#[test]
#[ignore = "a measurement, run by hand: cargo test -p sesame-templates --release -- --ignored --nocapture"]
fn signin_render_time() {
    let t = templates();
    let l = layout();
    let page = SignIn::default();
    let n = 20_000;
    let start = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(t.render(Lang::En, &l, &page).unwrap());
    }
    println!(
        "{:.1} µs per render of pages/signin.html",
        start.elapsed().as_secs_f64() * 1e6 / n as f64
    );
}

#[test]
fn bidi_controls_in_arguments_cannot_reorder_a_message() {
    let t = templates();
    let m = t.message(
        Lang::En,
        "signed-in-as",
        &[("name", MessageArg::Str("evil\u{202e}nimda".into()))],
    );
    assert_eq!(m, "Signed in as evilnimda");
}

#[test]
fn tokens_never_show_in_debug_output() {
    let r = ResetPassword {
        token: "secret-token-value".into(),
        ..Default::default()
    };
    assert!(!format!("{r:?}").contains("secret-token-value"));
    let v = VerifyEmail {
        token: "secret-token-value".into(),
        state: "confirm".into(),
    };
    assert!(!format!("{v:?}").contains("secret-token-value"));
}

#[test]
fn a_cached_first_visit_page_carries_each_requests_own_token() {
    let t = templates();
    let mut a = layout();
    a.csrf_token = "token-of-browser-a".into();
    let mut b = layout();
    b.csrf_token = "token-of-browser-b".into();
    let first = t.render(Lang::En, &a, &SignIn::default()).unwrap();
    let second = t.render(Lang::En, &b, &SignIn::default()).unwrap();
    assert!(first.contains("value=\"token-of-browser-a\""));
    assert!(second.contains("value=\"token-of-browser-b\""));
    assert!(
        !second.contains("token-of-browser-a"),
        "never another browser's token"
    );
    assert!(!second.contains(TOKEN_SLOT));
    assert_eq!(
        first.replace("token-of-browser-a", "x"),
        second.replace("token-of-browser-b", "x")
    );
    // The languages are cached apart; a page with typed values is never cached.
    assert!(
        t.render(Lang::Ru, &a, &SignIn::default())
            .unwrap()
            .contains("lang=\"ru\"")
    );
    let typed = SignIn {
        identifier: "ada".into(),
        ..Default::default()
    };
    assert!(typed.cache_key().is_none());
    assert!(
        t.render(Lang::En, &a, &typed)
            .unwrap()
            .contains("value=\"ada\"")
    );
    assert_eq!(t.cache.read().unwrap().len(), 2);
}

#[test]
fn the_cache_stays_bounded_under_a_flood_of_return_to_values() {
    let t = templates();
    for i in 0..CACHE_MAX + 50 {
        let page = SignIn {
            return_to: Some(format!("/x{i}")),
            ..Default::default()
        };
        let html = t.render(Lang::En, &layout(), &page).unwrap();
        assert!(html.contains(&format!("x{i}\"")), "its own return_to");
    }
    assert_eq!(t.cache.read().unwrap().len(), CACHE_MAX);
}
