//! Passkeys in Chromium, with Chrome's own virtual authenticator (the WebDriver WebAuthn
//! extension) answering `navigator.credentials` for `/static/passkeys.js`: a person adds a
//! passkey on the security page after a password sign-in (offered on the account page), then
//! signs in with it without typing anything — the sign-in page's conditional request (the
//! username field's autofill), which the virtual authenticator answers at once with the
//! discoverable credential — and a password sign-in asks for it as the second step.

use serde_json::json;

use super::harness::{Options, with_browser};
use crate::helpers::*;

#[tokio::test]
async fn add_a_passkey_then_sign_in_with_it_alone_and_as_the_second_step() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let base = app.base.clone();
    let (email, password) = (user.email.clone(), user.password.clone());
    with_browser("passkeys", Options::default(), move |b| {
        Box::pin(async move {
            let authenticator = b.add_virtual_authenticator().await;
            b.goto(&format!("{base}/signin")).await;
            b.fill("Username or email", &email).await;
            b.fill("Password", &password).await;
            b.press("Sign in").await;
            assert_eq!(b.path().await, "/account");
            assert!(b.text().await.contains("add a passkey"), "the offer");
            b.follow("a[href='/account/security#passkeys-heading']")
                .await;

            b.fill("Name of the new passkey", "This laptop").await;
            b.press("Add a passkey").await;
            assert_eq!(b.path().await, "/account/security?notice=passkey-added");
            let text = b.text().await;
            assert!(text.contains("The passkey is added."), "{text}");
            assert!(text.contains("never used yet"), "{text}");
            let held = b.virtual_credentials(&authenticator).await;
            assert_eq!(held.len(), 1, "{held:?}");
            assert_eq!(held[0]["isResidentCredential"], json!(true), "discoverable");
            assert_eq!(held[0]["rpId"], "localhost");

            // Signed out, then in again with the passkey alone: nothing typed. (The page
            // signing out lands on /signin, whose autofill request the authenticator answers.)
            b.goto(&format!("{base}/signout")).await;
            b.press("Sign out").await;
            b.wait_for_path("/account").await;
            assert!(
                !b.text().await.contains("add a passkey"),
                "no offer after a passkey sign-in"
            );
            b.goto(&format!("{base}/account/security")).await;
            assert!(!b.text().await.contains("never used yet"), "used now");

            // A password sign-in now asks for the passkey as its second step. The
            // authenticator is taken away meanwhile (else the autofill request signs in
            // first) and comes back, with the same credential, on the second step's page.
            let credential = b.virtual_credentials(&authenticator).await.remove(0);
            b.remove_virtual_authenticator(&authenticator).await;
            b.goto(&format!("{base}/signout")).await;
            b.press("Sign out").await;
            b.goto(&format!("{base}/signin")).await;
            b.fill("Username or email", &email).await;
            b.fill("Password", &password).await;
            b.press("Sign in").await;
            assert_eq!(b.path().await, "/signin/mfa");
            let text = b.text().await;
            assert!(
                !text.contains("6-digit code"),
                "no authenticator app: {text}"
            );
            let back = b.add_virtual_authenticator().await;
            b.add_virtual_credential(&back, &credential).await;
            b.press("Use a passkey").await;
            assert_eq!(b.path().await, "/account");
        })
    })
    .await;
    // The second step's session says how it began.
    let sessions = body(app.get("/auth/sessions", Some(&user.tokens.access)).await).await;
    let browser = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "browser" && s["revoked_at"].is_null())
        .count();
    assert!(browser >= 1, "{sessions}");
}
