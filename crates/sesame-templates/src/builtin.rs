//! The built-in templates and stylesheet, compiled into the binary.

/// Every template by name (its path under `templates/` and under `SESAME_TEMPLATES_DIR`).
pub(crate) const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("_form.html", include_str!("../templates/_form.html")),
    (
        "_account_nav.html",
        include_str!("../templates/_account_nav.html"),
    ),
    (
        "_console_nav.html",
        include_str!("../templates/_console_nav.html"),
    ),
    (
        "pages/console/home.html",
        include_str!("../templates/pages/console/home.html"),
    ),
    (
        "pages/console/users.html",
        include_str!("../templates/pages/console/users.html"),
    ),
    (
        "pages/console/user.html",
        include_str!("../templates/pages/console/user.html"),
    ),
    (
        "pages/console/clients.html",
        include_str!("../templates/pages/console/clients.html"),
    ),
    (
        "pages/console/keys.html",
        include_str!("../templates/pages/console/keys.html"),
    ),
    (
        "pages/console/audit.html",
        include_str!("../templates/pages/console/audit.html"),
    ),
    (
        "pages/console/webhooks.html",
        include_str!("../templates/pages/console/webhooks.html"),
    ),
    (
        "pages/console/webhook.html",
        include_str!("../templates/pages/console/webhook.html"),
    ),
    (
        "pages/signin.html",
        include_str!("../templates/pages/signin.html"),
    ),
    (
        "pages/signin_mfa.html",
        include_str!("../templates/pages/signin_mfa.html"),
    ),
    (
        "pages/signup.html",
        include_str!("../templates/pages/signup.html"),
    ),
    (
        "pages/check_email.html",
        include_str!("../templates/pages/check_email.html"),
    ),
    (
        "pages/forgot_password.html",
        include_str!("../templates/pages/forgot_password.html"),
    ),
    (
        "pages/reset_password.html",
        include_str!("../templates/pages/reset_password.html"),
    ),
    (
        "pages/verify_email.html",
        include_str!("../templates/pages/verify_email.html"),
    ),
    (
        "pages/signout.html",
        include_str!("../templates/pages/signout.html"),
    ),
    (
        "pages/consent.html",
        include_str!("../templates/pages/consent.html"),
    ),
    (
        "pages/signed_out.html",
        include_str!("../templates/pages/signed_out.html"),
    ),
    (
        "pages/account/apps.html",
        include_str!("../templates/pages/account/apps.html"),
    ),
    (
        "pages/error.html",
        include_str!("../templates/pages/error.html"),
    ),
    (
        "pages/account/profile.html",
        include_str!("../templates/pages/account/profile.html"),
    ),
    (
        "pages/account/security.html",
        include_str!("../templates/pages/account/security.html"),
    ),
    (
        "pages/account/sessions.html",
        include_str!("../templates/pages/account/sessions.html"),
    ),
];

const CSS: &str = include_str!("../static/sesame.css");
/// `/static/passkeys.js`: the pages' one script (WebAuthn ceremonies), the same for everyone.
pub const PASSKEYS_JS: &str = include_str!("../static/passkeys.js");

/// The stylesheet with `--accent` set to `accent` — when it is a CSS hex colour; anything else
/// (which config validation already refuses) keeps the default, so nothing but a colour can
/// ever be written into the CSS.
pub(crate) fn css(accent: &str) -> String {
    let accent = if crate::is_hex_color(accent) {
        accent
    } else {
        crate::DEFAULT_ACCENT
    };
    CSS.replacen(crate::DEFAULT_ACCENT, accent, 1)
}
