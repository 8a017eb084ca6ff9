# Sesame's pages, English. Ids: <page>-<what>; `core-...` are the core's field messages, named
# after their English text (see docs/pages.md). Every id here must exist in ru/pages.ftl too.

skip-to-content = Skip to content
lang-switch = Language
lang-name-en = English
lang-name-ru = Русский
signed-in-as = Signed in as { $name }

signin-title = Sign in
signin-identifier = Username or email
signin-password = Password
signin-submit = Sign in
signin-forgot = Forgot your password?
signin-no-account = No account yet?
signin-signup-link = Create one
signin-providers = Or continue with
signin-invalid = The username, email or password is not correct.
signin-locked = { $minutes ->
    [one] Too many failed attempts. Try again in { $minutes } minute.
   *[other] Too many failed attempts. Try again in { $minutes } minutes.
}
signin-disabled = This account is disabled. Contact the administrator.
signin-email-not-verified = Confirm your email address first: follow the link in the message we sent.
signin-mfa-title = Second factor
signin-mfa-intro = Enter the 6-digit code your authenticator app shows for this account.
signin-mfa-code = Code
signin-mfa-submit = Continue
signin-mfa-recovery-title = Lost your phone?
signin-mfa-recovery-intro = Use one of your recovery codes instead. Each works once.
signin-mfa-recovery-code = Recovery code
signin-mfa-recovery-submit = Use the recovery code
signin-mfa-invalid = The code is not correct, or was used already.
signin-mfa-restart = Start again

signup-title = Create your account
signup-email = Email
signup-username = Username
signup-username-hint = Optional. 3–100 letters, digits, “_”, “.” or “-”.
signup-password = Password
signup-password-hint = At least 8 characters. A long phrase is best.
signup-submit = Create account
signup-have-account = Already have an account?
signup-signin-link = Sign in
signup-email-taken = An account with this email already exists.
signup-username-taken = This username is taken.

check-email-title = Check your email
check-email-verify = We sent you a link to confirm your email address. Follow it, then sign in.
check-email-reset = If an account uses this address, we sent it a link to choose a new password. The link works once and expires soon.
check-email-back = Back to sign in

forgot-title = Forgot your password?
forgot-intro = Enter the email address of your account and we will send you a link to choose a new password.
forgot-email = Email
forgot-submit = Send the link

reset-title = Choose a new password
reset-new-password = New password
reset-signs-out = You will be signed out everywhere, and can then sign in with the new password.
reset-submit = Set the password
reset-invalid-title = This link does not work
reset-invalid = The link is invalid, already used or expired.
reset-again = Ask for a new link

verify-title = Confirm your email address
verify-intro = Press the button to confirm that this address is yours.
verify-submit = Confirm my address
verify-done = Your email address is confirmed.
verify-invalid = The link is invalid, already used or expired.
verify-continue = Continue to your account

signout-title = Sign out
signout-intro = Sign out of { $product } in this browser?
signout-submit = Sign out
signout-cancel = Back to my account

error-home = Continue
error-csrf-title = Request refused
error-csrf = The form was out of date or came from another site, so nothing was changed. Go back, reload the page and try again.
error-not-found-title = Page not found
error-not-found = There is no page at this address.
error-rate-limited-title = Too many requests
error-rate-limited = Too many attempts from your network. Wait a moment and try again.
error-unavailable-title = Temporarily unavailable
error-unavailable = The service cannot answer right now. Try again in a moment.
error-internal-title = Something went wrong
error-internal = An unexpected error occurred. It has been logged; try again later.

account-nav = Account
nav-profile = Profile
nav-security = Security
nav-sessions = Sessions
nav-signout = Sign out
account-title = Your profile
account-display-name = Display name
account-username = Username
account-email = Email
account-email-unverified = not confirmed yet
account-email-pending-label = New address, waiting for confirmation
account-current-password = Current password
account-current-password-hint = Needed only to change the email address.
account-save = Save
account-wrong-password = The current password is not correct.

security-title = Security
security-password-heading = Change password
security-others-end = Your other sessions will be signed out.
security-submit = Change password
security-mfa-heading = Two-step sign-in
security-mfa-required = Your role requires a second factor. Set up an authenticator app or add a passkey to go on.
security-totp-off = Add a code from an authenticator app (Google Authenticator, 1Password, Aegis…) to your password, so that a stolen password alone cannot open your account.
security-totp-start = Set up an authenticator app
security-totp-scan = Scan this QR code with your authenticator app.
security-totp-manual = Or type this key into it:
security-totp-code = The 6-digit code the app now shows
security-totp-confirm = Turn on
security-totp-code-wrong = That code is not correct. Check the app's clock and try the newest code.
security-totp-expired = The setup took too long. Start it again.
security-totp-on = Two-step sign-in is on: signing in asks for a code from your authenticator app.
security-codes-left = { $count ->
    [one] You have { $count } unused recovery code.
   *[other] You have { $count } unused recovery codes.
}
security-codes-few = { $count ->
    [0] You have no recovery codes left. Make new ones, or you may lose your account with your phone.
    [one] Only { $count } recovery code is left. Make new ones.
   *[other] Only { $count } recovery codes are left. Make new ones.
}
security-codes-new = Make new recovery codes
security-codes-heading = Your recovery codes
security-codes-intro = Keep these somewhere safe, away from your phone. Each one signs you in once if you lose the app. They are shown only now; making new ones voids these.
security-codes-done = I have saved them
security-totp-remove = Turn off two-step sign-in
security-totp-remove-warning = This removes the app and your recovery codes.
notice-mfa-removed = Two-step sign-in is off.
notice-mfa-enroll-required = Your role requires a second factor: set up an authenticator app or add a passkey.

sessions-title = Sessions
sessions-intro = Where your account is signed in. End any session you do not recognise.
sessions-none = No sessions.
sessions-this = this browser
sessions-kind = Kind
sessions-kind-browser = Browser
sessions-kind-api = App or API
sessions-ip = IP address
sessions-started = Started
sessions-last-used = Last used
sessions-end = End
sessions-end-label = End the session on { $device }
sessions-end-others = Sign out everywhere else
sessions-device-unknown = Unknown device

notice-profile-saved = Your profile is saved.
notice-email-change-sent = We sent a link to the new address. It becomes your email once you follow it.
notice-password-changed = Your password is changed. Your other sessions are signed out.
notice-password-reset = Your password is changed. Sign in with the new one.
notice-session-ended = The session is ended.
notice-sessions-ended = Every other session is ended.
notice-signed-out = You are signed out.

core-this-field-may-not-be-blank = This field is required.
core-not-a-valid-email-address = Not a valid email address.
core-must-be-at-most-254-characters = Must be at most 254 characters.
core-must-be-3-to-100-characters = Must be 3 to 100 characters.
core-may-contain-only-letters-digits-and = May contain only letters, digits, “_”, “.” and “-”.
core-must-be-at-least-8-characters = Must be at least 8 characters.
core-must-be-at-most-1024-bytes = Must be at most 1024 bytes.
core-this-password-is-too-common = This password is too common: it is among the first tried by attackers.
core-must-differ-from-the-email-and-the-username = Must differ from the email and the username.
core-must-be-at-most-200-characters = Must be at most 200 characters.
core-required-to-change-the-email-address = Required to change the email address.

nav-apps = Apps
consent-title = Allow { $app }?
consent-intro = { $app } asks to sign you in with your account and to:
consent-allow = Allow
consent-redirect = Afterwards you will be sent to { $host }.
consent-deny = Deny
consent-revoke-later = You can withdraw this at any time under Account → Apps.
scope-openid = know who you are (your account id)
scope-profile = see your username and display name
scope-email = see your email address
scope-offline_access = stay signed in when you are away
scope-api = use “{ $scope }” on your behalf
signed-out-title = Signed out
signed-out-intro = You have signed out of { $product }.
signed-out-signin = Sign in again
apps-title = Apps
apps-none = You have not allowed any app to use your account.
apps-revoke = Remove access
error-unknown-client-title = Cannot sign in to this app
error-unknown-client = The app that sent you here is not known to this service, so you were not sent back to it.
error-invalid-redirect-uri = The app that sent you here gave an address this service does not know for it, so you were not sent there.
error-logout-redirect = The app asked to send you to an address it has not registered, so you were not sent there. You may still be signed in.
error-bad-id-token-hint = The sign-out request was not issued by this service, so nothing was changed.
notice-app-removed = The app no longer has access to your account.

console-nav = Console
console-title = Console
console-intro = Run Sesame from here: find people, see how they sign in, unlock, disable and sign them out. Every action is audited under your name.
console-users = Users
console-users-intro = search by email or username, open a person's page.
console-own-account = Your account
console-search = Email or username
console-search-submit = Search
console-no-users = No user matches.
console-email = Email
console-username = Username
console-name = Name
console-roles = Roles
console-state = State
console-created = Created
console-active = Active
console-disabled = Disabled
console-locked = Locked
console-locked-until = Locked until
console-next = Next page
console-email-verified = Email confirmed
console-yes = Yes
console-no = No
console-failed-logins = Failed sign-ins in a row
console-second-factor = Second factor
console-totp-on = { $count ->
    [one] Authenticator app; { $count } recovery code left
   *[other] Authenticator app; { $count } recovery codes left
}
console-passkeys = { $count ->
    [one] { $count } passkey
   *[other] { $count } passkeys
}
console-none = None
console-last-login = Last sign-in
console-actions = Actions
console-unlock-intro = Unlocking ends every lock on the account: the account-wide one shown above and those on single networks after wrong passwords from there.
console-unlock = Unlock
console-enable = Enable
console-disable = Disable…
console-end-sessions = Sign out everywhere…
console-confirm-disable = Disable { $email }? They are signed out everywhere and cannot sign in until enabled again.
console-confirm-end-sessions = Sign { $email } out of every session and app?
console-confirm = Yes, do it
console-cancel = Cancel
console-events = Recent events
console-when = When
console-event = Event
console-last-admin = This is the last active admin: it cannot be disabled.
error-forbidden-title = Not allowed
error-forbidden = This page is for administrators.
error-step-up-title = Second factor needed
error-step-up = Your role requires a sign-in with a second factor for this page. Sign out and sign in again with it.
notice-user-unlocked = The account is unlocked.
notice-user-enabled = The account is enabled.
notice-user-disabled = The account is disabled and signed out everywhere.
notice-user-signed-out = The person is signed out everywhere.
console-clients = Clients
console-clients-intro = the services and apps that get tokens; create one (its secret is shown once), delete one.
console-keys = Keys
console-keys-intro = the signing keys and their ages; rotate them.
console-audit = Audit trail
console-audit-intro = every sign-in, change and admin action, filtered by person and event.
console-no-clients = No clients yet.
console-client-created = Client created
console-client-secret-once = Copy the secret now: it is shown this once, and only its hash is kept.
console-confirm-delete-client = Delete the client { $client }? It can no longer get tokens, and the tokens it holds stop working.
console-client-kind = Kind
console-client-grants = Grant types
console-client-grants-hint = None ticked: an app with redirect URIs (or a public one) gets the code flow and refresh; otherwise a service gets client credentials.
console-client-public = Public
console-client-confidential = Confidential
console-client-first-party = first party
console-delete = Delete
console-delete-client-label = Delete { $name }
console-new-client = New client
console-client-audiences = Audiences
console-client-scopes = Scopes
console-client-delegable-roles = Roles it may act with
console-client-redirect-uris = Redirect URIs
console-client-logout-uris = Post-logout redirect URIs
console-client-backchannel = Back-channel logout URI
console-list-hint = Separated by spaces or commas.
console-client-public-label = Public (no secret: a SPA, mobile or CLI app; PKCE is its proof)
console-client-first-party-label = First party (one of ours: no consent page)
console-create-client = Create client
console-keys-about = Access tokens and ID tokens are signed with their own keys. Rotating makes each family's published next key the signing one and publishes a new next key; tokens signed before stay valid until they expire.
console-key-purpose = Signs
console-key-purpose-access = access tokens
console-key-purpose-id_token = ID tokens
console-key-state-next = next
console-key-state-active = signing
console-key-state-retired = retired
console-key-age = Age
console-key-days = { $count ->
    [0] today
    [one] { $count } day
   *[other] { $count } days
}
console-rotate = Rotate keys…
console-confirm-rotate = Rotate both key families now?
console-audit-user = User id
console-audit-event-hint = For example login_failed, account_locked, refresh_reused.
console-audit-detail = Detail
console-filter = Filter
notice-client-deleted = The client is deleted.
notice-keys-rotated = The keys are rotated.
console-audit-bad-user = Not a user id (a UUID, as on a user's page).
console-save-roles = Save roles
console-remove-factors = Remove second factors…
console-confirm-remove-factors = Remove every second factor of { $email }? They sign in with the password alone until they set one up again, and are emailed that it happened.
console-delete-user = Delete the account
console-confirm-delete = Deleting { $email } removes the account, its sessions and its second factors for good. Type the email to confirm.
console-type-email = The account's email
console-email-mismatch = That is not this account's email: nothing was deleted.
notice-user-deleted = The account is deleted.
notice-roles-saved = The roles are saved; the person's next token carries them.
notice-factors-removed = Every second factor is removed, and the person is emailed.
console-webhooks = Webhooks
console-webhooks-intro = the endpoints told of changes to users and sessions; add one (its secret is shown once), remove one, see its deliveries.
console-webhook-created = Webhook added
console-webhook-secret-once = Its signing secret, shown this once (Standard Webhooks: key the HMAC with the base64-decoded part after whsec_):
console-confirm-delete-webhook = Remove this webhook? Nothing more is sent to it, and its delivery log goes too.
console-no-webhooks = No webhooks yet.
console-webhook-events = Events
console-webhook-status-active = active
console-webhook-status-disabled = disabled (it answered 410)
console-delete-webhook-label = Remove { $url }
console-new-webhook = New webhook
console-add-webhook = Add webhook
console-deliveries = Deliveries
console-attempts = Attempts
console-last-attempt = Last attempt
console-delivery-pending = pending
console-delivery-delivered = delivered
console-delivery-failed = failed
console-delivery-disabled = disabled
notice-webhook-deleted = The webhook is removed.
console-active-sessions = Active sessions
console-email-backlog = Emails waiting to be sent
console-webhook-backlog = Webhook deliveries waiting
console-chart-hour = The last hour (5-minute steps)
console-chart-day = The last day (hours)
console-chart-numbers = The numbers
console-chart-from = From
console-chart-title = Sign-ins, failed sign-ins, lockouts and refresh-token reuse
console-series-login_succeeded = sign-ins
console-series-login_failed = failed sign-ins
console-series-account_locked = lockouts
console-series-refresh_reused = refresh-token reuse

# Passkeys (issue #19)
signin-passkey = Sign in with a passkey
signin-passkey-invalid = That passkey was not accepted. Try again, or use your password.
signin-mfa-passkey-intro = Confirm with one of your passkeys (your phone, your computer's fingerprint or PIN, or a security key).
signin-mfa-passkey = Use a passkey
passkey-failed = The passkey did not work, or was cancelled. Try again.
passkey-needs-javascript = Passkeys need a browser with JavaScript and passkey support.
security-totp-heading = Authenticator app
security-codes-title = Recovery codes
security-passkeys-heading = Passkeys
security-passkeys-intro = A passkey signs you in with your phone, your computer's fingerprint or PIN, or a security key — no password to type or steal. With one, a password alone no longer opens your account.
security-passkey-name = Name
security-passkey-rename = Rename
security-passkey-remove = Remove
security-passkey-remove-named = Remove the passkey { $name }
security-passkey-added = Added { $at }
security-passkey-used = last used { $at }
security-passkey-unused = never used yet
security-passkey-new-name = Name of the new passkey
security-passkey-new-name-hint = Optional, for example "Laptop" or "Phone".
security-passkey-add = Add a passkey
security-passkey-rejected = The passkey could not be added. Start again; if it is on this account already, it needs no adding.
security-passkey-name-invalid = A name has 1 to 64 characters.
notice-passkey-added = The passkey is added. Next time, sign in with it.
notice-passkey-removed = The passkey is removed.
notice-passkey-renamed = The passkey is renamed.
account-passkey-offer = Sign in faster and safer next time: add a passkey, and your password alone no longer opens your account.
account-passkey-offer-link = Add a passkey

# Sign in with another provider (issue #22)
signin-with = Sign in with { $provider }
upstream-state-invalid = That sign-in with the provider is unknown, used or expired. Start it again.
upstream-unavailable = { $provider } cannot be reached now. Try again later, or sign in another way.
upstream-refused = The provider's answer was not accepted. Start the sign-in again.
upstream-link-required = An account with this email exists already. Sign in to it with your password, then link the provider under Security.
upstream-identity-taken = This account at the provider is linked to another account here.
upstream-signup-closed = There is no account for you here, and new accounts cannot be made this way.
security-identities-heading = Other ways to sign in
security-identity-linked = linked { $at }
security-identity-unlink = Unlink
security-identity-unlink-named = Unlink { $provider }
security-identity-link = Link { $provider }
security-identity-last = This is your only way to sign in. Set a password (through "Forgot your password?") or add a passkey first.
notice-identity-linked = The provider is linked: you can sign in with it.
notice-identity-unlinked = The provider is unlinked.
upstream-email-unverified = Your provider has not verified your email address, so no account is made from it. Verify it there and try again, or sign up here with a password.
console-identities = Signs in with
