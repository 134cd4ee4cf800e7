//! The administrator's area: users and extensions (add, change name, email, privileges, password and
//! PIN, remove; open any user's pages), lockouts (SIP digest, voicemail PIN and portal logins, with
//! Unlock) and the audit log. Everything here needs the `admin` privilege and is itself audited.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::html;
use parley_core::trunk::dialplan::DialClass;
use parley_store::{NewUser, Privilege, UserChanges};
use tokio::sync::oneshot;

use super::{
    field, flash_to, forbidden, html_response, no_db, page, posted, session_of, to_login, when,
    Posted,
};
use crate::api::{audit, Peer};
use crate::AppState;

/// The admin routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/admin", get(admin_page).post(admin_action))
}

/// The dialling classes as the user form offers them.
const DIAL_CLASSES: [(DialClass, &str); 4] = [
    (
        DialClass::Internal,
        "None: extensions only (emergency numbers always)",
    ),
    (DialClass::Local, "Local: the company's area code"),
    (DialClass::National, "National"),
    (DialClass::International, "International"),
];

/// How many audit entries the page shows.
const AUDIT_SHOWN: u32 = 100;

#[allow(clippy::disallowed_methods)]
fn now() -> std::time::Instant {
    std::time::Instant::now()
}

/// Every lockout: (what, key to unlock it by, seconds left).
fn lockouts(s: &AppState) -> Vec<(String, String, u64)> {
    let mut out: Vec<(String, String, u64)> = crate::snapshot(&s.status)
        .lockouts
        .into_iter()
        .map(|l| (format!("SIP/voicemail: {}", l.what), l.key, l.seconds_left))
        .collect();
    {
        let g = crate::lock(&s.guard);
        let t = now();
        out.extend(g.locked_accounts(t).into_iter().map(|(a, d)| {
            (
                format!("Portal and API logins: account {a}"),
                a,
                d.as_secs(),
            )
        }));
        out.extend(g.locked_addresses(t).into_iter().map(|(a, d)| {
            (
                format!("Portal and API logins: address {a}"),
                a.to_string(),
                d.as_secs(),
            )
        }));
    }
    out
}

async fn admin_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let Some(sess) = session_of(&s, &headers) else {
        return to_login("/admin");
    };
    if !sess.who.has(Privilege::Admin) {
        return forbidden("the admin area is for administrators");
    }
    let Some(store) = s.store.as_ref() else {
        return no_db();
    };
    let (Ok(users), Ok(log)) = (store.list_users().await, store.audit_log(AUDIT_SHOWN).await)
    else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "database error").into_response();
    };
    let locks = lockouts(&s);
    let privilege_boxes = |id: &str, has: &[Privilege]| {
        html! {
            fieldset.privileges {
                legend { "Privileges" }
                @for p in Privilege::ALL {
                    label.inline { input type="checkbox" name="privilege" value=(p.as_str()) checked[has.contains(&p)]
                        id=(format!("{id}-{}", p.as_str())); (p.as_str()) }
                }
            }
        }
    };
    let body = html! {
        h1 { "Admin" }
        section.card #users aria-labelledby="users-h" {
            h2 #users-h { "Users and extensions" }
            ul.users {
                @for u in &users {
                    li #(format!("user-{}", u.extension)) {
                        div.head {
                            strong { (u.extension) " · " (u.name) }
                            span.muted { (u.email.clone().unwrap_or_default()) }
                            @for p in &u.privileges { span.badge { (p.as_str()) } }
                            @if !u.has_pin { span.muted.nopin { "no PIN set: the mailbox opens only from " (u.extension) "'s own phone (*97) until one is set" } }
                        }
                        div.actions {
                            @for (path, label) in [("/messages", "Messages"), ("/greetings", "Greetings"), ("/settings", "Settings"), ("/calls", "Calls")] {
                                a.button href=(format!("{path}?mailbox={}", u.extension)) { (label) }
                            }
                        }
                        details {
                            summary { "Change " (u.extension) }
                            form.stack method="post" action="/admin" {
                                input type="hidden" name="csrf" value=(sess.csrf);
                                input type="hidden" name="extension" value=(u.extension);
                                label for=(format!("name-{}", u.extension)) { "Name" }
                                input id=(format!("name-{}", u.extension)) name="name" value=(u.name) required;
                                label for=(format!("email-{}", u.extension)) { "Email address" }
                                input id=(format!("email-{}", u.extension)) name="email" type="email" value=(u.email.clone().unwrap_or_default());
                                (privilege_boxes(&format!("p-{}", u.extension), &u.privileges))
                                label for=(format!("dial-{}", u.extension)) { "Outside calls" }
                                select id=(format!("dial-{}", u.extension)) name="dial_class" {
                                    @for (class, label) in DIAL_CLASSES {
                                        option value=(class.as_str()) selected[u.dial_class == class] { (label) }
                                    }
                                }
                                label for=(format!("num-{}", u.extension)) { "Own outside number, E.164 (empty: the company's)" }
                                input id=(format!("num-{}", u.extension)) name="outside_number" placeholder="+15855550142"
                                    value=(u.outside_number.clone().unwrap_or_default());
                                label for=(format!("pw-{}", u.extension)) { "New password (leave empty to keep)" }
                                input id=(format!("pw-{}", u.extension)) name="password" type="password" autocomplete="new-password";
                                label for=(format!("pin-{}", u.extension)) { "New PIN (leave empty to keep)" }
                                input id=(format!("pin-{}", u.extension)) name="pin" type="password" inputmode="numeric" autocomplete="new-password";
                                @if u.extension != sess.who.user {
                                    label.check {
                                        input type="checkbox" name="archive" value="on";
                                        " When removing, keep an archive of the messages, greetings and call records (under the data directory)"
                                    }
                                }
                                div.actions {
                                    button.primary name="act" value="update" { "Save " (u.extension) }
                                    @if u.extension != sess.who.user {
                                        button.danger name="act" value="remove"
                                            data-confirm=(format!("Remove {} ({})? Their messages, greetings and call records go with the account (or to the archive, if ticked).", u.name, u.extension)) { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h3 { "Add a user" }
            form.stack method="post" action="/admin" {
                input type="hidden" name="csrf" value=(sess.csrf);
                label for="new-ext" { "Extension" }
                input #new-ext name="extension" inputmode="numeric" pattern="[0-9]{2,10}" required;
                label for="new-name" { "Name" }
                input #new-name name="name" required;
                label for="new-password" { "Password" }
                input #new-password name="password" type="password" autocomplete="new-password" required;
                label for="new-email" { "Email address" }
                input #new-email name="email" type="email";
                (privilege_boxes("new", &[]))
                button.primary name="act" value="add" { "Add user" }
            }
        }
        section.card #lockouts aria-labelledby="locks-h" {
            h2 #locks-h { "Lockouts" }
            @if locks.is_empty() {
                p.empty { "Nothing is locked." }
            } @else {
                form method="post" action="/admin" {
                    input type="hidden" name="csrf" value=(sess.csrf);
                    table.grid {
                        thead { tr { th scope="col" { "Locked" } th scope="col" { "Time left" } th scope="col" { "" } } }
                        tbody {
                            @for (what, key, secs) in &locks {
                                tr.lockout {
                                    td { (what) }
                                    td { (secs / 60) " min " (secs % 60) " s" }
                                    td { button name="unlock" value=(key) { "Unlock " (key) } }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.card #audit aria-labelledby="audit-h" {
            h2 #audit-h { "Audit log" }
            p.hint { "The latest " (log.len()) " changes, newest first." }
            div.table-wrap {
                table.grid.audit {
                    thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "From" } th scope="col" { "Action" } th scope="col" { "On" } th scope="col" { "Detail" } } }
                    tbody {
                        @for e in &log {
                            @let (iso, shown) = when(e.at);
                            tr {
                                td data-label="When" { time datetime=(iso) { (shown) } }
                                td data-label="Who" { (e.actor) }
                                td data-label="From" { (e.source) }
                                td data-label="Action" { (e.action) }
                                td data-label="On" { (e.target) }
                                td data-label="Detail" { small { (e.detail) } }
                            }
                        }
                    }
                }
            }
        }
    };
    html_response(StatusCode::OK, page("Admin", Some(&sess), body))
}

fn chosen_privileges(f: &[(String, String)]) -> Vec<Privilege> {
    f.iter()
        .filter(|(k, _)| k == "privilege")
        .filter_map(|(_, v)| Privilege::parse(v).ok())
        .collect()
}

fn non_empty(f: &[(String, String)], name: &str) -> Option<String> {
    field(f, name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

async fn admin_action(
    State(s): State<AppState>,
    Peer(source): Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Posted {
        sess,
        fields: f,
        caller,
    } = match posted(&s, &headers, source, "/admin", &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if !sess.who.has(Privilege::Admin) {
        return forbidden("the admin area is for administrators");
    }
    let Some(store) = s.store.as_ref() else {
        return no_db();
    };
    let ext = field(&f, "extension").unwrap_or("").trim().to_string();
    let ok = |text: String| flash_to(&s, &headers, false, text, "/admin");
    let refused = |text: String| flash_to(&s, &headers, true, text, "/admin");
    if let Some(key) = field(&f, "unlock") {
        let mut lifted = false;
        if let Some(c) = s.control.as_ref() {
            let (reply, answer) = oneshot::channel();
            if c.send(parley_core::switch::Control::Unlock {
                what: key.to_string(),
                reply: Box::new(move |b| {
                    let _ = reply.send(b);
                }),
            })
            .is_ok()
            {
                lifted |= answer.await.unwrap_or(false);
            }
        }
        {
            let mut g = crate::lock(&s.guard);
            lifted |= g.unlock(key);
        }
        audit(&s, &caller, "lockout.lift", key, "portal").await;
        return if lifted {
            ok(format!("Unlocked {key}."))
        } else {
            refused(format!("{key} was not locked."))
        };
    }
    match field(&f, "act").unwrap_or("") {
        "add" => {
            let privileges = chosen_privileges(&f);
            let name = field(&f, "name").unwrap_or("").trim().to_string();
            let new = NewUser {
                extension: ext.clone(),
                name: name.clone(),
                password: field(&f, "password").unwrap_or("").to_string(),
                pin: None,
                email: non_empty(&f, "email"),
                privileges: privileges.clone(),
            };
            match store.add_user(&new).await {
                Ok(()) => {
                    audit(
                        &s,
                        &caller,
                        "user.add",
                        &ext,
                        &format!("name={name} privileges={privileges:?}"),
                    )
                    .await;
                    ok(format!("Added {name} on extension {ext}."))
                }
                Err(e) => refused(format!("Not added: {e}.")),
            }
        }
        "update" => {
            let pin = non_empty(&f, "pin");
            if let Some(p) = &pin {
                if let Err(e) = parley_core::vm::pin::check(p, s.voicemail.menus.pin_min_len, &ext)
                {
                    return refused(format!("{ext} not changed: {e}."));
                }
            }
            let privileges = chosen_privileges(&f);
            if ext == sess.who.user && !privileges.contains(&Privilege::Admin) {
                return refused("You cannot take the admin privilege from yourself.".into());
            }
            let changes = UserChanges {
                name: non_empty(&f, "name"),
                email: field(&f, "email").map(|e| e.trim().to_string()),
                password: non_empty(&f, "password"),
                pin,
                privileges: Some(privileges.clone()),
                dial_class: field(&f, "dial_class").and_then(DialClass::parse),
                outside_number: field(&f, "outside_number").map(|n| n.trim().to_string()),
                ..Default::default()
            };
            let detail = format!(
                "name={:?} email={:?} password={} pin={} privileges={privileges:?} dial_class={:?} outside_number={:?}",
                changes.name,
                changes.email,
                changes.password.is_some(),
                changes.pin.is_some(),
                changes.dial_class.map(DialClass::as_str),
                changes.outside_number
            );
            match store.update_user(&ext, &changes).await {
                Ok(()) => {
                    audit(&s, &caller, "user.set", &ext, &detail).await;
                    ok(format!("Saved {ext}."))
                }
                Err(e) => refused(format!("{ext} not changed: {e}.")),
            }
        }
        "remove" if ext == sess.who.user => refused("You cannot remove yourself.".into()),
        "remove" => {
            let disposal = if field(&f, "archive") == Some("on") {
                parley_store::Disposal::Archive
            } else {
                parley_store::Disposal::Delete
            };
            match store.remove_account(&ext, disposal).await {
                Ok(archive) => {
                    let what = match &archive {
                        Some(dir) => format!("archived in {}", dir.display()),
                        None => "data deleted".to_string(),
                    };
                    crate::api::account_removed(&s, &ext);
                    audit(&s, &caller, "user.remove", &ext, &format!("portal, {what}")).await;
                    ok(format!("Removed {ext} ({what})."))
                }
                Err(e) => refused(format!("{ext} not removed: {e}.")),
            }
        }
        _ => refused("Nothing to do.".into()),
    }
}
