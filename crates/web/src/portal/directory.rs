//! Directory (every user with extension, name, presence and recorded name), My Call Details (the call records the
//! B2BUA writes) and Phone Functions (the dial codes and voicemail keys, generated from the
//! configuration and the menu profile, so the page cannot drift from what the phones do).

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::html;
use parley_core::vm::GreetingKind;
use parley_store::{AudioKey, Outcome, User};
use serde::Deserialize;

use super::{
    duration, forbidden, html_response, mailbox_of, no_db, page, session_of, to_login, when, whose,
};
use crate::AppState;

/// The directory, call details and phone functions routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/directory", get(directory_page))
        .route("/directory/{ext}/name.wav", get(recorded_name))
        .route("/calls", get(calls_page))
        .route("/phone", get(phone_page))
}

async fn directory_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let Some(sess) = session_of(&s, &headers) else {
        return to_login("/directory");
    };
    let Some(store) = s.store.as_ref() else {
        return no_db();
    };
    let (Ok(mut users), Ok(presences)) = (store.list_users().await, store.presences().await) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "database error").into_response();
    };
    let presence_of = |u: &User| presences.get(&u.extension).copied().unwrap_or_default();
    users.sort_by_key(|a| a.name.to_lowercase());
    let mut named = std::collections::HashSet::new();
    for u in &users {
        if store
            .audio_exists(&AudioKey::greeting(&u.extension, GreetingKind::Name))
            .await
        {
            named.insert(u.extension.clone());
        }
    }
    let has_name = |u: &User| named.contains(&u.extension);
    let body = html! {
        h1 { "Directory" }
        p.hint { "Everyone on this system. Dial the extension from your phone to call them." }
        table.grid.directory {
            thead { tr { th scope="col" { "Name" } th scope="col" { "Extension" } th scope="col" { "Presence" } th scope="col" { "Recorded name" } } }
            tbody {
                @for u in &users {
                    tr #(format!("u-{}", u.extension)) {
                        td { strong { (u.name) } }
                        td { span.phone-only { "Extension " } (u.extension) }
                        td.presence data-presence=(presence_of(u).as_str()) { (presence_of(u).label()) }
                        td {
                            @if has_name(u) {
                                audio controls preload="none" src=(format!("/directory/{}/name.wav", u.extension))
                                    aria-label=(format!("Listen to the name of {}", u.name)) {}
                            } @else {
                                span.muted { "Not recorded" }
                            }
                        }
                    }
                }
            }
        }
    };
    html_response(StatusCode::OK, page("Directory", Some(&sess), body))
}

/// A user's recorded name, for anyone logged in (the directory's play button).
async fn recorded_name(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(ext): Path<String>,
) -> Response {
    // Only the session is checked: a page's one-time message must not be used up by its audio.
    if crate::api::session::from_cookie(&s.sessions, &headers).is_none() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Some(store) = s.store.as_ref() else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    if ext.is_empty() || !ext.bytes().all(|b| b.is_ascii_digit()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    match store
        .audio_wav(&AudioKey::greeting(&ext, GreetingKind::Name))
        .await
    {
        Some(bytes) => {
            let mut r = (StatusCode::OK, bytes).into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
            r
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[derive(Deserialize)]
struct MailboxQuery {
    mailbox: Option<String>,
}

/// How many calls My Call Details shows.
const CALLS_SHOWN: u32 = 200;

async fn calls_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<MailboxQuery>,
) -> Response {
    let Some(sess) = session_of(&s, &headers) else {
        return to_login("/calls");
    };
    let Some(ext) = mailbox_of(&sess, q.mailbox.as_deref()) else {
        return forbidden("you may only see your own calls");
    };
    let own = ext == sess.who.user;
    let Some(store) = s.store.as_ref() else {
        return no_db();
    };
    let (Ok(calls), Ok(users)) = (
        store.call_records(Some(&ext), CALLS_SHOWN).await,
        store.list_users().await,
    ) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "database error").into_response();
    };
    let name_of = |n: &str| {
        users
            .iter()
            .find(|u| u.extension == n)
            .map(|u| u.name.clone())
    };
    let body = html! {
        h1 { "My Call Details" (whose(&users, &ext, own)) }
        @if calls.is_empty() {
            p.empty { "No calls yet." }
        } @else {
            p.hint { "Your latest " (calls.len()) " calls, newest first." }
            table.grid.calls {
                thead { tr {
                    th scope="col" { "Date" } th scope="col" { "Time" } th scope="col" { "Direction" }
                    th scope="col" { "Line" } th scope="col" { "Number" } th scope="col" { "Caller ID" } th scope="col" { "Duration" } th scope="col" { "Outcome" } th scope="col" { "Routed" }
                } }
                tbody {
                    @for c in &calls {
                        @let (iso, _) = when(c.started_at);
                        @let outgoing = c.caller == ext;
                        @let other = if outgoing { &c.callee } else { &c.caller };
                        @let id = if outgoing { name_of(&c.callee) } else { name_of(&c.caller).or_else(|| c.caller_name.clone()) };
                        @let missed = !outgoing && matches!(c.outcome, Outcome::NoAnswer | Outcome::Cancelled | Outcome::Busy);
                        tr.call data-outcome=(c.outcome.as_str()) {
                            td data-label="Date" { time datetime=(iso) { (iso.get(..10).unwrap_or("")) } }
                            td data-label="Time" { (iso.get(11..16).unwrap_or("")) }
                            td data-label="Direction" { @if outgoing { "Outgoing" } @else { "Incoming" } }
                            td.line data-label="Line" {
                                @if c.direction == parley_store::Direction::Internal { "Internal" }
                                @else { "Outside" @if let Some(t) = &c.trunk { " (" (t) ")" } }
                            }
                            td.number data-label="Number" { (other) }
                            td data-label="Caller ID" { (id.unwrap_or_default()) }
                            td data-label="Duration" { (duration(c.talk_ms)) }
                            td data-label="Outcome" { (c.outcome.label()) @if missed { " (missed)" } }
                            td.routed data-label="Routed" { (routed(c)) }
                        }
                    }
                }
            }
        }
    };
    html_response(StatusCode::OK, page("My Call Details", Some(&sess), body))
}

/// How a call was routed, in words ("by 101's route, answered by 102").
fn routed(c: &parley_store::CallRecord) -> String {
    match (&c.routed_by, &c.answered_by) {
        (Some(by), Some(who)) => format!("by {by}'s route, answered by {who}"),
        (Some(by), None) => format!("by {by}'s route"),
        (None, _) => String::new(),
    }
}

/// Menu ids of the profile in the order a caller meets them, with a heading for each.
const MENUS: &[(&str, &str)] = &[
    ("main", "Main menu (after your PIN)"),
    ("change-folder", "Change folder (main menu 2)"),
    ("advanced", "Advanced options (main menu 3)"),
    ("options", "Mailbox options (main menu 0)"),
    ("temporary", "Temporary greeting (options 4)"),
    ("announcements", "Announcements (options 6)"),
    ("message", "After a message"),
    ("save-folder", "Save to folder (after a message 9)"),
    ("playing", "While a message plays"),
    ("review", "After recording"),
    ("greeting", "While a mailbox greeting plays (callers)"),
];

/// Keys as they sit on a keypad: 1 to 9, 0, then * and #.
fn keypad_order<T>(keys: &std::collections::BTreeMap<char, T>) -> Vec<(char, &T)> {
    let rank = |k: char| match k {
        '1'..='9' => k as u32 - '1' as u32,
        '0' => 9,
        '*' => 10,
        _ => 11,
    };
    let mut v: Vec<(char, &T)> = keys.iter().map(|(k, a)| (*k, a)).collect();
    v.sort_by_key(|(k, _)| rank(*k));
    v
}

async fn phone_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let Some(sess) = session_of(&s, &headers) else {
        return to_login("/phone");
    };
    let vm = &s.voicemail;
    let profile = &vm.profile;
    let body = html! {
        h1 { "Phone Functions" }
        section.card aria-labelledby="codes-h" {
            h2 #codes-h { "Dial codes" }
            table.grid.keys {
                thead { tr { th scope="col" { "Dial" } th scope="col" { "What it does" } } }
                tbody {
                    tr { td { kbd { (vm.own_code) } } td { "Your mailbox, from your own phone (it asks for your PIN when Always prompt is on)." } }
                    tr { td { kbd { (vm.any_code) } } td { "Any mailbox, from any phone: enter the mailbox number, then its PIN." } }
                    tr { td { kbd { (vm.pilot) } } td { "The voicemail pilot: calls another PBX diverts here land in the mailbox they name; dialled directly it works like " kbd { (vm.any_code) } "." } }
                    @if !s.presence_code.is_empty() {
                        tr {
                            td { kbd { (s.presence_code) } " and a digit" }
                            td {
                                "Sets your presence, which chooses where your calls go: "
                                @for (i, p) in parley_core::routing::Presence::ALL.iter().enumerate() {
                                    @if i > 0 { ", " }
                                    kbd { (s.presence_code) (p.digit()) } " " (p.label())
                                }
                                ". The phone says the presence it set."
                            }
                        }
                    }
                    @if !s.conference.extension.is_empty() {
                        tr {
                            td { kbd { (s.conference.extension) } }
                            td { "The Conference Center: enter the Conference ID and " kbd { "#" } ", then the conference password and " kbd { "#" } ". Everyone in the conference hears a ding when someone enters and a dong when someone leaves." }
                        }
                    }
                    tr { td { "An extension" } td { "Calls that person; if they do not answer, are busy or have no phone registered, you reach their voicemail." } }
                }
            }
            @if let Some(op) = &vm.operator {
                p { "Press " kbd { "0" } " during a mailbox greeting to reach the operator (extension " (op) ")." }
            }
        }
        section.card aria-labelledby="keys-h" {
            h2 #keys-h { "Voicemail keys" }
            @for (id, title) in MENUS {
                @if let Some(menu) = profile.menus.get(id) {
                    h3 { (title) }
                    table.grid.keys {
                        tbody {
                            @for (key, act) in keypad_order(&menu.keys) {
                                tr { td { kbd { (key) } } td { (act.describe()) } }
                            }
                        }
                    }
                }
            }
        }
    };
    html_response(StatusCode::OK, page("Phone Functions", Some(&sess), body))
}
