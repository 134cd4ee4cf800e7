//! Message settings (as Callisto's page: PIN with its rules, Always prompt, Forward to Email Account,
//! Mark messages as read, Send SMS, MWI calibration; explicit Save, a warning before leaving unsaved
//! changes) and My Account (contact details, password and PIN changed separately: the PIN is for the
//! phone, the password for the portal).

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

use super::{
    field, flash_to, forbidden, html_response, mailbox_of, no_db, page, posted, session_of,
    to_login, url_for, whose, Posted,
};
use crate::api::account::{self, ProfileChanges};
use crate::api::{audit, Peer};
use crate::{auth, AppState};

/// The settings and account routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/settings", get(settings_page).post(settings_save))
        .route("/account", get(account_page).post(account_save))
}

#[derive(Deserialize)]
struct MailboxQuery {
    mailbox: Option<String>,
}

fn pin_rules(s: &AppState) -> String {
    format!(
        "At least {} digits; not one repeated digit, not a straight run such as 1234 or 4321, and not your extension number.",
        s.voicemail.menus.pin_min_len
    )
}

fn pin_fields(s: &AppState, required: bool) -> Markup {
    html! {
        label for="pin" { "New PIN" }
        input #pin name="pin" type="password" inputmode="numeric" autocomplete="new-password" pattern="[0-9]*" required[required];
        label for="pin2" { "New PIN again" }
        input #pin2 name="pin2" type="password" inputmode="numeric" autocomplete="new-password" pattern="[0-9]*" required[required];
        p.hint { (pin_rules(s)) @if !required { " Leave both empty to keep your PIN." } }
    }
}

/// The PIN typed twice, checked by the phone menu's rules before anything is changed.
fn new_pin(s: &AppState, f: &[(String, String)], ext: &str) -> Result<Option<String>, String> {
    let pin = field(f, "pin").unwrap_or("").trim();
    let again = field(f, "pin2").unwrap_or("").trim();
    if pin.is_empty() && again.is_empty() {
        return Ok(None);
    }
    if pin != again {
        return Err("the two PINs differ".into());
    }
    parley_core::vm::pin::check(pin, s.voicemail.menus.pin_min_len, ext)
        .map_err(|e| e.to_string())?;
    Ok(Some(pin.to_string()))
}

fn check(name: &str, label: &str, on: bool, enabled: bool, hint: Markup) -> Markup {
    html! {
        label.check {
            input type="checkbox" name=(name) value="on" checked[on] disabled[!enabled];
            span { (label) br; small { (hint) } }
        }
    }
}

async fn settings_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<MailboxQuery>,
) -> Response {
    let Some(sess) = session_of(&s, &headers) else {
        return to_login("/settings");
    };
    let Some(mailbox) = mailbox_of(&sess, q.mailbox.as_deref()) else {
        return forbidden("you may only open your own settings");
    };
    let own = mailbox == sess.who.user;
    let Some(store) = s.store.as_ref() else {
        return no_db();
    };
    let (Ok(p), Ok(users)) = (
        account::profile(&s, &mailbox).await,
        store.list_users().await,
    ) else {
        return (StatusCode::NOT_FOUND, "no such mailbox").into_response();
    };
    let here = url_for("/settings", &mailbox, own);
    let body = html! {
        h1 { "Message settings" (whose(&users, &mailbox, own)) }
        section.card aria-labelledby="set-h" {
            h2 #set-h { "Voicemail" }
            form.stack method="post" action=(here) data-dirty-warn {
                input type="hidden" name="csrf" value=(sess.csrf);
                fieldset {
                    legend { "User PIN" }
                    (pin_fields(&s, false))
                }
                (check("always_prompt", "Always prompt", p.always_prompt, true,
                    html! { "Ask for the PIN even when you call your mailbox from your own phone." }))
                (check("forward_email", "Forward to Email Account", p.forward_email, p.email.is_some(),
                    html! { @if let Some(e) = &p.email { "Email each new message to " (e) ", with the recording attached." }
                            @else { "Set your email address in " a href="/account" { "My Account" } " first." } }))
                (check("mark_read", "Mark messages as read", p.mark_read, true,
                    html! { "Store new messages as old: no message lamp, no count on the phone. For those who only read their email." }))
                @if p.may_send_sms {
                    (check("send_sms", "Send SMS when receiving a message", p.send_sms, p.mobile.is_some(),
                        html! { @if let Some(m) = &p.mobile { "A text message to " (m) " for each new message." }
                                @else { "Set your mobile number in " a href="/account" { "My Account" } " first." } }))
                }
                button.primary name="act" value="save" { "Save" }
            }
        }
        (forwarding_card(&s, &sess, &here, &mailbox, own).await)
        section.card aria-labelledby="mwi-h" {
            h2 #mwi-h { "MWI calibration" }
            p { "If your phone's message lamp is out of step with your messages, switch it on or off here. It follows your messages again at the next change." }
            form method="post" action=(here) {
                input type="hidden" name="csrf" value=(sess.csrf);
                div.actions {
                    button name="act" value="mwi-on" { "MWI On" }
                    button name="act" value="mwi-off" { "MWI Off" }
                }
            }
        }
    };
    html_response(StatusCode::OK, page("Message settings", Some(&sess), body))
}

/// A diversion state's choice from the form: `no-forwarding`, `voicemail`, or the number typed for
/// "To Number", "Voicemail with Transfer" or "Mobile Connect".
fn forward_field(f: &[(String, String)], state: &str, label: &str) -> Result<String, String> {
    let choice = field(f, state).unwrap_or("no-forwarding");
    match choice {
        "number" | "mobile-connect" | "voicemail-transfer" => {
            let n = field(f, &format!("{state}_number")).unwrap_or("").trim();
            match (n.is_empty(), choice) {
                (true, "number") => Err(format!("{label}: give the number for To Number")),
                (true, "mobile-connect") => Err(format!(
                    "{label}: give the mobile number for Mobile Connect"
                )),
                (true, _) => Err(format!(
                    "{label}: give the number Voicemail with Transfer transfers to"
                )),
                (false, "number") => Ok(n.to_string()),
                (false, "mobile-connect") => Ok(format!("{}{n}", crate::routing::MOBILE_CONNECT)),
                (false, _) => Ok(format!("{}{n}", crate::routing::VOICEMAIL_TRANSFER)),
            }
        }
        "voicemail" => Ok("voicemail".into()),
        _ => Ok("no-forwarding".into()),
    }
}

/// Callisto's forwarding per call-diversion state (Unconditional, Busy, No Answer), a simpler
/// editor of the current presence's routes.
async fn forwarding_card(
    s: &AppState,
    sess: &crate::api::session::WebSession,
    here: &str,
    mailbox: &str,
    own: bool,
) -> Markup {
    let Some(store) = s.store.as_ref() else {
        return html! {};
    };
    let Ok(routing) = store.routing(mailbox).await else {
        return html! {};
    };
    let f = crate::routing::ForwardingBody::from(&routing.forwarding());
    let editable = sess.who.has(parley_store::Privilege::Admin)
        || (own && sess.who.has(parley_store::Privilege::Routes));
    let tab = |state: &str, label: &str, current: &str, after: bool| {
        let mobile = current.strip_prefix(crate::routing::MOBILE_CONNECT);
        let transfer = current.strip_prefix(crate::routing::VOICEMAIL_TRANSFER);
        let number = !matches!(current, "no-forwarding" | "voicemail")
            && mobile.is_none()
            && transfer.is_none();
        let typed = mobile
            .or(transfer)
            .unwrap_or(if number { current } else { "" });
        html! {
            fieldset.forwarding #(format!("fwd-{state}")) {
                legend { (label) }
                label.check { input type="radio" name=(state) value="no-forwarding" checked[current == "no-forwarding"] disabled[!editable]; "No Forwarding" }
                label.check { input type="radio" name=(state) value="voicemail" checked[current == "voicemail"] disabled[!editable]; "Voicemail" }
                label.check { input type="radio" name=(state) value="number" checked[number] disabled[!editable]; "To Number" }
                label.check { input type="radio" name=(state) value="voicemail-transfer" checked[transfer.is_some()] disabled[!editable]; "Voicemail with Transfer" }
                label.check { input type="radio" name=(state) value="mobile-connect" checked[mobile.is_some()] disabled[!editable]; "Mobile Connect" }
                label for=(format!("{state}-number")) { "Number (an extension, or outside: +1 585 555 0123)" }
                input id=(format!("{state}-number")) name=(format!("{state}_number")) inputmode="tel" disabled[!editable]
                    value=(typed);
                @if after {
                    label for="after-secs" { "Forward after [...] Seconds" }
                    input #after-secs name="after_secs" inputmode="numeric" disabled[!editable]
                        placeholder=(s.no_answer_secs) value=(f.after_secs.map(|v| v.to_string()).unwrap_or_default());
                }
            }
        }
    };
    html! {
        section.card #forwarding aria-labelledby="fwd-h" {
            h2 #fwd-h { "Forwarding" }
            p.hint { "Where calls go when you are " strong { (routing.presence.label()) } ", for each call diversion state." }
            @if !editable {
                p.notice { "Your administrator has not given you permission to change where your calls go." }
            } @else if f.custom {
                p.notice { "Your call routes were set in " a href="/extension" { "My Extension" } " and say more than this; saving here replaces them." }
            }
            form.stack method="post" action=(here) data-dirty-warn {
                input type="hidden" name="csrf" value=(sess.csrf);
                (tab("unconditional", "Unconditional", &f.unconditional, false))
                (tab("busy", "Busy", &f.busy, false))
                (tab("no_answer", "No Answer", &f.no_answer, true))
                @if editable {
                    button.primary name="act" value="forwarding" { "Save" }
                }
            }
        }
    }
}

async fn settings_save(
    State(s): State<AppState>,
    Peer(source): Peer,
    headers: HeaderMap,
    Query(q): Query<MailboxQuery>,
    body: Bytes,
) -> Response {
    let Posted {
        sess,
        fields: f,
        caller,
    } = match posted(&s, &headers, source, "/settings", &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(mailbox) = mailbox_of(&sess, q.mailbox.as_deref()) else {
        return forbidden("you may only open your own settings");
    };
    let back = url_for("/settings", &mailbox, mailbox == sess.who.user);
    let act = field(&f, "act").unwrap_or("");
    if act == "forwarding" {
        let states = (
            forward_field(&f, "unconditional", "Unconditional"),
            forward_field(&f, "busy", "Busy"),
            forward_field(&f, "no_answer", "No Answer"),
        );
        let after_secs = match field(&f, "after_secs")
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            None => Ok(None),
            Some(v) => v
                .parse::<u32>()
                .map(Some)
                .map_err(|_| "Forward after: a number of seconds".to_string()),
        };
        let body = match (states, after_secs) {
            ((Ok(unconditional), Ok(busy), Ok(no_answer)), Ok(after_secs)) => {
                crate::routing::ForwardingBody {
                    unconditional,
                    busy,
                    no_answer,
                    after_secs,
                    custom: false,
                }
            }
            ((Err(e), _, _), _) | ((_, Err(e), _), _) | ((_, _, Err(e)), _) | (_, Err(e)) => {
                return flash_to(&s, &headers, true, format!("Not saved: {e}."), &back)
            }
        };
        let change = crate::routing::RouteChange::Forwarding(body.forwarding());
        return match crate::routing::change_routes(&s, &caller, &mailbox, change).await {
            Ok(_) => flash_to(&s, &headers, false, "Forwarding saved.", &back),
            Err(e) => flash_to(
                &s,
                &headers,
                true,
                format!("Not saved: {}.", e.message()),
                &back,
            ),
        };
    }
    if act == "mwi-on" || act == "mwi-off" {
        let on = act == "mwi-on";
        return match crate::calibrate_lamp(&s, mailbox.clone(), on).await {
            Ok(phones) => {
                audit(&s, &caller, "mwi.calibrate", &mailbox, &format!("on={on}")).await;
                let state = if on { "on" } else { "off" };
                let text = format!("Message lamp switched {state} on {phones} phone(s).");
                flash_to(&s, &headers, false, text, &back)
            }
            Err(e) => flash_to(&s, &headers, true, format!("Not done: {e}."), &back),
        };
    }
    let pin = match new_pin(&s, &f, &mailbox) {
        Ok(p) => p,
        Err(e) => return flash_to(&s, &headers, true, format!("Not saved: {e}."), &back),
    };
    let Ok(before) = account::profile(&s, &mailbox).await else {
        return (StatusCode::NOT_FOUND, "no such mailbox").into_response();
    };
    let on = |name: &str| f.iter().any(|(k, v)| k == name && v == "on");
    let changes = ProfileChanges {
        always_prompt: Some(on("always_prompt")),
        mark_read: Some(on("mark_read")),
        forward_email: Some(on("forward_email")),
        send_sms: before.may_send_sms.then(|| on("send_sms")),
        ..Default::default()
    };
    if let Err(e) = account::update_profile(&s, &mailbox, &changes).await {
        return flash_to(
            &s,
            &headers,
            true,
            format!("Not saved: {}", e.message()),
            &back,
        );
    }
    audit(&s, &caller, "me.update", &mailbox, &format!("{changes:?}")).await;
    let mut text = "Settings saved.".to_string();
    if let Some(pin) = pin {
        if let Err(e) = account::set_pin(&s, &mailbox, pin).await {
            let text = format!(
                "Settings saved, but the PIN was not changed: {}",
                e.message()
            );
            return flash_to(&s, &headers, true, text, &back);
        }
        audit(&s, &caller, "me.pin", &mailbox, "portal").await;
        text = "Settings saved. Your new PIN works from now on.".into();
    }
    flash_to(&s, &headers, false, text, &back)
}

async fn account_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let Some(sess) = session_of(&s, &headers) else {
        return to_login("/account");
    };
    let Ok(p) = account::profile(&s, &sess.who.user).await else {
        return no_db();
    };
    let body = html! {
        h1 { "My Account" }
        section.card aria-labelledby="me-h" {
            h2 #me-h { (p.name) " · extension " (p.extension) }
            form.stack method="post" action="/account" data-dirty-warn {
                input type="hidden" name="csrf" value=(sess.csrf);
                label for="name" { "Name" }
                input #name name="name" autocomplete="name" required value=(p.name);
                label for="email" { "Email address" }
                input #email name="email" type="email" autocomplete="email" value=(p.email.clone().unwrap_or_default());
                label for="mobile" { "Mobile number" }
                input #mobile name="mobile" type="tel" autocomplete="tel" value=(p.mobile.clone().unwrap_or_default());
                p.hint { "Used for Forward to Email Account and SMS notification (Message settings)." }
                button.primary name="act" value="details" { "Save details" }
            }
        }
        section.card aria-labelledby="pw-h" {
            h2 #pw-h { "Password" }
            p { "Your password is for this portal and for your phone's registration; it is not your voicemail PIN." }
            form.stack method="post" action="/account" {
                input type="hidden" name="csrf" value=(sess.csrf);
                label for="current" { "Current password" }
                input #current name="current" type="password" autocomplete="current-password" required;
                label for="password" { "New password" }
                input #password name="password" type="password" autocomplete="new-password" required;
                label for="password2" { "New password again" }
                input #password2 name="password2" type="password" autocomplete="new-password" required;
                button.primary name="act" value="password" { "Change password" }
            }
        }
        section.card aria-labelledby="pin-h" {
            h2 #pin-h { "Voicemail PIN" }
            p { "Your PIN is for the telephone: you enter it to listen to your messages." }
            form.stack method="post" action="/account" {
                input type="hidden" name="csrf" value=(sess.csrf);
                (pin_fields(&s, true))
                button.primary name="act" value="pin" { "Change PIN" }
            }
        }
    };
    html_response(StatusCode::OK, page("My Account", Some(&sess), body))
}

async fn account_save(
    State(s): State<AppState>,
    Peer(source): Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Posted {
        sess,
        fields: f,
        caller,
    } = match posted(&s, &headers, source, "/account", &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let ext = sess.who.user.clone();
    let done = |text: &str| flash_to(&s, &headers, false, text, "/account");
    let refused = |text: String| flash_to(&s, &headers, true, text, "/account");
    match field(&f, "act").unwrap_or("") {
        "details" => {
            let changes = ProfileChanges {
                name: field(&f, "name").map(|v| v.trim().to_string()),
                email: field(&f, "email").map(|v| v.trim().to_string()),
                mobile: field(&f, "mobile").map(|v| v.trim().to_string()),
                ..Default::default()
            };
            match account::update_profile(&s, &ext, &changes).await {
                Ok(()) => {
                    audit(&s, &caller, "me.update", &ext, &format!("{changes:?}")).await;
                    done("Details saved.")
                }
                Err(e) => refused(format!("Not saved: {}", e.message())),
            }
        }
        "password" => {
            let new = field(&f, "password").unwrap_or("");
            if new != field(&f, "password2").unwrap_or("") {
                return refused("Password not changed: the two new passwords differ.".into());
            }
            let Some(store) = s.store.as_ref() else {
                return no_db();
            };
            let current = field(&f, "current").unwrap_or("");
            // The current password is checked like a login (wrong ones count towards the lockout).
            match auth::password(store, &s.guard, &ext, current, source).await {
                Ok(_) => {}
                Err(auth::AuthFailure::Locked) => {
                    return refused(
                        "Password not changed: too many wrong passwords; wait a few minutes."
                            .into(),
                    )
                }
                Err(_) => {
                    return refused("Password not changed: the current password is wrong.".into())
                }
            }
            match account::set_password(&s, &ext, new.to_string()).await {
                Ok(()) => {
                    crate::api::session::keep_after_password_change(&s, &headers).await;
                    audit(&s, &caller, "me.password", &ext, "portal").await;
                    done("Password changed. Use the new one on your phone too.")
                }
                Err(e) => refused(format!("Password not changed: {}", e.message())),
            }
        }
        "pin" => match new_pin(&s, &f, &ext) {
            Ok(Some(pin)) => match account::set_pin(&s, &ext, pin).await {
                Ok(()) => {
                    audit(&s, &caller, "me.pin", &ext, "portal").await;
                    done("PIN changed. Use it on the phone from now on.")
                }
                Err(e) => refused(format!("PIN not changed: {}", e.message())),
            },
            Ok(None) => refused("PIN not changed: type the new PIN twice.".into()),
            Err(e) => refused(format!("PIN not changed: {e}.")),
        },
        _ => refused("Nothing to do.".into()),
    }
}
