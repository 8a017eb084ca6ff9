//! `/oauth/authorize` (the authorization endpoint, with its consent page) and `/oauth/logout`
//! (RP-initiated logout): the browser's side of "Sign in with Sesame". Every rule is in
//! `sesame_core::oidc`; these handlers extract, call it and render or redirect.
//!
//! An authorization response is a 303 carrying a code: never cached (`no-store`, as every page
//! answer here), and never sent to a redirect URI the client did not register — such a request
//! gets a 400 page instead.

use axum::http::{StatusCode, header};
use axum::response::Response;
use sesame_core::oidc::{
    AfterLogout, AuthorizeError, AuthorizeParams, AuthorizeRequest, LogoutError, OPENID_SCOPES,
    Step,
};
use sesame_templates::{Consent, HiddenField, ScopeLine, SignedOut};

use super::context::PageCtx;
use super::form::PageForm;
use super::headers::csp_allowing_form_action;

/// `GET /oauth/authorize`.
pub async fn authorize(ctx: PageCtx) -> Response {
    let params = AuthorizeParams::from_pairs(ctx.query_pairs());
    let req = match ctx.state.sesame.oidc().check(params).await {
        Ok(r) => r,
        Err(e) => return refused(&ctx, &e),
    };
    match ctx
        .state
        .sesame
        .oidc()
        .next_step(&req, ctx.session.as_ref())
        .await
    {
        Ok(step) => respond(&ctx, &req, step),
        Err(e) => ctx.core_error(e),
    }
}

/// `POST /oauth/authorize`: the consent form's answer (`decision=allow|deny`), with the request
/// it was shown for.
pub async fn decide(ctx: PageCtx, form: PageForm) -> Result<Response, Response> {
    let form = ctx.checked(form)?;
    let params = AuthorizeParams::from_pairs(
        form.pairs()
            .filter(|(k, _)| *k != "csrf_token" && *k != "decision"),
    );
    let req = match ctx.state.sesame.oidc().check(params).await {
        Ok(r) => r,
        Err(e) => return Ok(refused(&ctx, &e)),
    };
    let Some(session) = &ctx.session else {
        // Signed out in another tab meanwhile: sign in again, then the request starts over.
        return Ok(respond(&ctx, &req, Step::SignIn { force: false }));
    };
    let allow = match form.text("decision") {
        "allow" => true,
        "deny" => false,
        _ => {
            return Ok(ctx.error_page(StatusCode::BAD_REQUEST, "error-csrf-title", "error-csrf"));
        }
    };
    match ctx
        .state
        .sesame
        .oidc()
        .decide(&req, session, allow, &ctx.client)
        .await
    {
        Ok(location) => Ok(ctx.redirect(&location)),
        Err(e) => Err(ctx.core_error(e)),
    }
}

/// A request refused before its redirect URI is trusted: a page; after: back to the app.
fn refused(ctx: &PageCtx, e: &AuthorizeError) -> Response {
    match ctx.state.sesame.oidc().error_location(e) {
        Some(location) => ctx.redirect(&location),
        None => {
            let message = match e {
                AuthorizeError::Page("unknown-client") => "error-unknown-client",
                AuthorizeError::Page("unavailable") => {
                    return ctx.error_page(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "error-unavailable-title",
                        "error-unavailable",
                    );
                }
                _ => "error-invalid-redirect-uri",
            };
            ctx.error_page(
                StatusCode::BAD_REQUEST,
                "error-unknown-client-title",
                message,
            )
        }
    }
}

fn respond(ctx: &PageCtx, req: &AuthorizeRequest, step: Step) -> Response {
    match step {
        Step::Redirect(location) => ctx.redirect(&location),
        Step::SignIn { force } => {
            let back = after_sign_in(req);
            let mut to = format!(
                "/signin?return_to={}",
                url::form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
            );
            if force {
                to.push_str("&reauth=1");
            }
            if let Some(hint) = &req.login_hint {
                to.push_str("&login_hint=");
                to.extend(url::form_urlencoded::byte_serialize(hint.as_bytes()));
            }
            ctx.redirect(&to)
        }
        Step::SecondFactor { token } => {
            // The sign-in page's second step, as after a right password: the challenge rides in
            // its cookie, never the URL; finishing it replaces this browser session by one at
            // aal2, and the request is asked again.
            let back = after_sign_in(req);
            let mut res = ctx.redirect(&format!(
                "/signin/mfa?return_to={}",
                url::form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>()
            ));
            PageCtx::set_mfa(&mut res, token.as_str());
            res
        }
        Step::Consent {
            client_name,
            scopes,
        } => {
            let redirect_host = url::Url::parse(&req.redirect_uri)
                .ok()
                .map(|u| match u.host_str() {
                    Some(host) => host.to_string(),
                    None => format!("{}:", u.scheme()),
                })
                .unwrap_or_default();
            let page = Consent {
                client_name,
                redirect_host,
                scopes: scopes
                    .into_iter()
                    .map(|name| ScopeLine {
                        known: OPENID_SCOPES.contains(&name.as_str()),
                        name,
                    })
                    .collect(),
                params: req
                    .params
                    .to_pairs_after_sign_in()
                    .into_iter()
                    .map(|(name, value)| HiddenField {
                        name: name.to_string(),
                        value,
                    })
                    .collect(),
            };
            let mut res = ctx.render(StatusCode::OK, &page);
            // The form's answer is a redirect to the app: the browser checks it against
            // form-action.
            if let Some(csp) = csp_allowing_form_action(&req.redirect_uri) {
                res.headers_mut()
                    .insert(header::CONTENT_SECURITY_POLICY, csp);
            }
            res
        }
    }
}

/// Where sign-in returns to: this request again, without what would ask for it once more.
pub(super) fn after_sign_in(req: &AuthorizeRequest) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in req.params.to_pairs_after_sign_in() {
        q.append_pair(k, &v);
    }
    format!("/oauth/authorize?{}", q.finish())
}

/// `GET /oauth/logout` (RP-initiated logout 1.0): ends the browser session and the app
/// sessions it started, then back to the app's registered `post_logout_redirect_uri` or the
/// signed-out page. Nothing changes when the redirect is not registered or the hint is forged.
pub async fn logout(ctx: PageCtx) -> Response {
    let oidc = ctx.state.sesame.oidc();
    let after = oidc
        .after_logout(
            ctx.query("id_token_hint"),
            ctx.query("client_id"),
            ctx.query("post_logout_redirect_uri"),
            ctx.query("state"),
        )
        .await;
    let plan = match after {
        Ok(p) => p,
        Err(LogoutError::UnregisteredRedirect) => {
            return ctx.error_page(
                StatusCode::BAD_REQUEST,
                "error-unknown-client-title",
                "error-logout-redirect",
            );
        }
        Err(LogoutError::BadHint) => {
            return ctx.error_page(
                StatusCode::BAD_REQUEST,
                "error-unknown-client-title",
                "error-bad-id-token-hint",
            );
        }
        Err(LogoutError::Unavailable) => {
            return ctx.error_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "error-unavailable-title",
                "error-unavailable",
            );
        }
    };
    if let Some(session) = &ctx.session {
        // Without a genuine hint naming this person, a link on any site could sign them out:
        // ask first (the sign-out page's form), as the specification recommends.
        if plan.hinted != Some(session.user.id) {
            return ctx.redirect("/signout");
        }
        if let Err(e) = ctx
            .state
            .sesame
            .sessions()
            .sign_out_browser(session.session_id, &ctx.client)
            .await
        {
            return ctx.core_error(e);
        }
    }
    let mut res = match plan.after {
        AfterLogout::Redirect(to) => ctx.redirect(&to),
        AfterLogout::SignedOut => ctx.render(StatusCode::OK, &SignedOut {}),
    };
    PageCtx::clear_session(&mut res);
    res
}
