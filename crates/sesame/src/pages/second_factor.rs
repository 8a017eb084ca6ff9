//! The second-factor part of `/account/security`: set up an authenticator app (a QR code drawn
//! here as inline SVG, then a first code), new recovery codes, turning it off. The same
//! use-cases as `/auth/mfa/*` (`sesame_core::mfa::Mfa`); each form answers with the security
//! page itself, since what it shows (a secret, recovery codes) must not travel in a URL.

use axum::http::StatusCode;
use axum::response::Response;
use qrcode::QrCode;
use qrcode::render::svg;
use sesame_core::CoreError;
use sesame_core::mfa::{RecoveryCode, TotpEnrollment};
use sesame_core::secret::ExposeSecret;
use sesame_templates::{AccountSecurity, MfaSection, TotpSetup};
use uuid::Uuid;

use super::account::{Refusal, refusal};
use super::context::{PageCtx, retry_after};
use super::form::PageForm;
use crate::http::ratelimit::Class;

/// The section as it stands for `user_id`.
pub(super) async fn section(ctx: &PageCtx, user_id: Uuid) -> Result<MfaSection, Response> {
    let mfa = ctx.state.sesame.mfa();
    let status = mfa.status(user_id).await.map_err(|e| ctx.core_error(e))?;
    let required = mfa
        .must_enroll(user_id)
        .await
        .map_err(|e| ctx.core_error(e))?;
    let passkeys_available = ctx.state.sesame.sessions().passkeys_available();
    let upstream = ctx.state.sesame.upstream();
    let linked = upstream
        .identities(user_id)
        .await
        .map_err(|e| ctx.core_error(e))?;
    let identities = linked
        .iter()
        .map(|i| sesame_templates::IdentityRow {
            id: i.id.to_string(),
            provider: upstream
                .provider_name(&i.provider)
                .unwrap_or_else(|| i.provider.clone()),
            email: i.email.clone(),
            linked_at: super::passkeys::shown_time(i.linked_at),
        })
        .collect();
    let linkable = super::upstream::buttons(ctx)
        .into_iter()
        .filter(|p| !linked.iter().any(|i| i.provider == p.id))
        .collect();
    Ok(MfaSection {
        totp: status.totp,
        recovery_codes_left: status.recovery_codes_left,
        required,
        has_second_factor: status.totp || status.passkeys > 0,
        passkeys_available,
        passkeys: if passkeys_available {
            super::passkeys::rows(ctx, user_id).await?
        } else {
            Vec::new()
        },
        identities,
        linkable,
        ..MfaSection::default()
    })
}

/// `POST /account/security/totp`: the password, then the QR code and the key.
pub async fn totp_begin(ctx: PageCtx, form: PageForm) -> Result<Response, Response> {
    let session = ctx.signed_in()?;
    let form = ctx.checked(form)?;
    ctx.limit(Class::Login)?;
    let user_id = session.user.id;
    let result = ctx
        .state
        .sesame
        .mfa()
        .begin_totp(user_id, &form.secret("totp_password"), &ctx.client)
        .await;
    match result {
        Ok(enrollment) => {
            let mut mfa = section(&ctx, user_id).await?;
            mfa.enrolling = Some(setup(&ctx, &enrollment)?);
            Ok(page(&ctx, StatusCode::OK, mfa, None))
        }
        // Set up already (another tab): the page shows it on.
        Err(CoreError::MfaAlreadyEnrolled) => Ok(ctx.redirect("/account/security")),
        Err(e) => refused(&ctx, user_id, e, "totp_password").await,
    }
}

/// `POST /account/security/totp/confirm`: the app's first code turns it on; the recovery codes
/// are shown this once. A wrong code shows the same QR code again (still pending).
pub async fn totp_confirm(ctx: PageCtx, form: PageForm) -> Result<Response, Response> {
    let session = ctx.signed_in()?;
    let form = ctx.checked(form)?;
    ctx.limit(Class::Login)?;
    let user_id = session.user.id;
    let mfa = ctx.state.sesame.mfa();
    let code = form.text("totp_code").trim().to_string();
    match mfa.confirm_totp(user_id, &code, &ctx.client).await {
        Ok(codes) => codes_page(&ctx, user_id, &codes).await,
        Err(CoreError::EnrollmentCodeInvalid) => {
            let pending = mfa
                .pending_totp(user_id)
                .await
                .map_err(|e| ctx.core_error(e))?;
            let mut section = section(&ctx, user_id).await?;
            section.enrolling = pending.as_ref().map(|p| setup(&ctx, p)).transpose()?;
            let refusal = Refusal::field(
                StatusCode::BAD_REQUEST,
                "totp_code",
                ctx.message("security-totp-code-wrong", &[]),
            );
            Ok(shown(&ctx, section, refusal))
        }
        Err(CoreError::MfaNotEnrolled) => {
            let section = section(&ctx, user_id).await?;
            let message = ctx.message("security-totp-expired", &[]);
            Ok(page(&ctx, StatusCode::CONFLICT, section, Some(message)))
        }
        Err(CoreError::MfaAlreadyEnrolled) => Ok(ctx.redirect("/account/security")),
        Err(e) => refused(&ctx, user_id, e, "totp_code").await,
    }
}

/// `POST /account/security/recovery-codes`: the password, then a new set (the old one dies).
pub async fn recovery_codes(ctx: PageCtx, form: PageForm) -> Result<Response, Response> {
    let session = ctx.signed_in()?;
    let form = ctx.checked(form)?;
    ctx.limit(Class::Login)?;
    let user_id = session.user.id;
    let result = ctx
        .state
        .sesame
        .mfa()
        .new_recovery_codes(user_id, &form.secret("codes_password"), &ctx.client)
        .await;
    match result {
        Ok(codes) => codes_page(&ctx, user_id, &codes).await,
        Err(CoreError::MfaNotEnrolled) => Ok(ctx.redirect("/account/security")),
        Err(e) => refused(&ctx, user_id, e, "codes_password").await,
    }
}

/// `POST /account/security/totp/remove`: the password, then the app and the codes are gone.
pub async fn totp_remove(ctx: PageCtx, form: PageForm) -> Result<Response, Response> {
    let session = ctx.signed_in()?;
    let form = ctx.checked(form)?;
    ctx.limit(Class::Login)?;
    let user_id = session.user.id;
    let result = ctx
        .state
        .sesame
        .mfa()
        .remove_totp(user_id, &form.secret("remove_password"), &ctx.client)
        .await;
    match result {
        Ok(()) => Ok(ctx.redirect("/account/security?notice=mfa-removed")),
        Err(e) => refused(&ctx, user_id, e, "remove_password").await,
    }
}

/// The page with recovery codes made just now: the only time they are shown.
async fn codes_page(
    ctx: &PageCtx,
    user_id: Uuid,
    codes: &[RecoveryCode],
) -> Result<Response, Response> {
    let mut section = section(ctx, user_id).await?;
    section.recovery_codes = codes.iter().map(|c| c.as_str().to_string()).collect();
    Ok(page(ctx, StatusCode::OK, section, None))
}

/// The enrollment as the page shows it: the URI drawn as a QR code, the key in groups of four.
fn setup(ctx: &PageCtx, enrollment: &TotpEnrollment) -> Result<TotpSetup, Response> {
    let uri = enrollment.otpauth_uri.expose_secret();
    let qr_svg = qr_svg(uri).ok_or_else(|| {
        ctx.core_error(CoreError::internal("an otpauth URI too long for a QR code"))
    })?;
    let key = enrollment.secret.expose_secret();
    let secret = key
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(TotpSetup { qr_svg, secret })
}

/// `text` as a QR code in an `<svg>` element for inline use (without the XML prolog), named by
/// the paragraph above it for screen readers. `None` only for text beyond a QR code's capacity.
fn qr_svg(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    let drawn = code
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000"))
        .light_color(svg::Color("#fff"))
        .build();
    let start = drawn.find("<svg")?;
    Some(drawn[start..].replacen(
        "<svg ",
        "<svg role=\"img\" aria-labelledby=\"totp-qr-label\" ",
        1,
    ))
}

fn page(
    ctx: &PageCtx,
    status: StatusCode,
    mfa: MfaSection,
    form_error: Option<String>,
) -> Response {
    let page = AccountSecurity {
        mfa,
        form_error,
        ..AccountSecurity::default()
    };
    ctx.render(status, &page)
}

fn shown(ctx: &PageCtx, mfa: MfaSection, refused: Refusal) -> Response {
    let page = AccountSecurity {
        errors: refused.errors,
        form_error: refused.form_error,
        mfa,
    };
    let mut res = ctx.render(refused.status, &page);
    if let Some(wait) = refused.wait {
        retry_after(&mut res, wait);
    }
    res
}

/// A refused form: the account forms' refusals, a wrong password shown at this form's own
/// password field (the page has several).
async fn refused(
    ctx: &PageCtx,
    user_id: Uuid,
    e: CoreError,
    field: &str,
) -> Result<Response, Response> {
    let mut refused = refusal(ctx, e)?;
    if let Some(message) = refused.errors.remove("current_password") {
        refused.errors.insert(field.to_string(), message);
    }
    let mfa = section(ctx, user_id).await?;
    Ok(shown(ctx, mfa, refused))
}
