//! Greetings and announcements: listen to each recording, choose the active announcement (Standard, A,
//! B, C) and its "Recording active" switch, switch the temporary greeting on or off, delete, upload a
//! file (converted once; a clear message says what was done or why nothing was replaced), and how to
//! record by phone (key sequences generated from the menu profile).

use axum::body::Bytes;
use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use parley_core::vm::profile::Act;
use parley_core::vm::{Announcement, GreetingKind};
use parley_store::AudioKey;
use serde::Deserialize;

use super::{
    duration, field, flash_to, forbidden, html_response, mailbox_of, no_db, page, posted,
    session_of, to_login, url_for, whose, Posted,
};
use crate::api::{audit, Caller, Peer};
use crate::greetings::{self, GreetingError, GreetingState, UPLOAD_LIMIT};
use crate::AppState;

/// The Greetings routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/greetings", get(greetings_page).post(greetings_action))
        .route("/greetings/upload", post(upload))
}

#[derive(Deserialize)]
struct MailboxQuery {
    mailbox: Option<String>,
}

fn explain(kind: GreetingKind) -> &'static str {
    match kind {
        GreetingKind::Unavailable => "When you do not answer or your phone is off.",
        GreetingKind::Busy => "When you are on the phone.",
        GreetingKind::Name => "Your name, in the system greeting and the directory.",
        GreetingKind::Temporary => "Overrides the others while switched on (out of office).",
        _ => "A custom welcome message; choose it under Announcements.",
    }
}

fn audio_url(mailbox: &str, g: &GreetingState) -> String {
    // The length in the URL makes the browser fetch a replaced recording afresh.
    format!(
        "/api/v1/mailboxes/{mailbox}/greetings/{}?v={}",
        g.kind.as_str(),
        g.duration_ms
    )
}

/// How to record each greeting by phone, from the menu profile the phones use.
fn by_phone(s: &AppState) -> Markup {
    let p = &s.voicemail.profile;
    let own = &s.voicemail.own_code;
    let any = &s.voicemail.any_code;
    let review = |act| {
        p.key_in("review", act)
            .map(String::from)
            .unwrap_or_default()
    };
    html! {
        ol.steps {
            li { "From your own phone dial " kbd { (own) } "; from any phone dial " kbd { (any) } " and enter your mailbox number, then " kbd { "#" } ". Enter your PIN, then " kbd { "#" } "." }
            li { "Press the keys of the greeting:"
                ul {
                    @for kind in GreetingKind::ALL {
                        @if let Some(keys) = p.keys_for(Act::RecordGreeting(kind)) {
                            li { kbd { (keys) } " " (kind.label()) }
                        }
                    }
                    @if let Some(keys) = p.keys_for(Act::DeactivateTemporary) {
                        li { kbd { (keys) } " switches the temporary greeting off" }
                    }
                }
            }
            li { "After the tone, speak, then press " kbd { "#" } "." }
            li { "Press " kbd { (review(Act::Accept)) } " to keep it, " kbd { (review(Act::ListenAgain)) } " to listen to it, " kbd { (review(Act::RecordAgain)) } " to record it again." }
        }
    }
}

async fn greetings_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<MailboxQuery>,
) -> Response {
    let Some(sess) = session_of(&s, &headers) else {
        return to_login("/greetings");
    };
    let Some(mailbox) = mailbox_of(&sess, q.mailbox.as_deref()) else {
        return forbidden("you may only open your own mailbox");
    };
    let own = mailbox == sess.who.user;
    let Some(store) = s.store.as_ref() else {
        return no_db();
    };
    let (Ok((settings, all)), Ok(users)) = (
        greetings::overview(store, &mailbox).await,
        store.list_users().await,
    ) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "database error").into_response();
    };
    let state = |k: GreetingKind| all.iter().find(|g| g.kind == k);
    let here = url_for("/greetings", &mailbox, own);
    let upload_url = url_for("/greetings/upload", &mailbox, own);
    let max_secs = s.voicemail.menus.max_greeting.as_secs();
    let body = html! {
        h1 { "Greetings and announcements" (whose(&users, &mailbox, own)) }
        section.card #announcements aria-labelledby="ann-h" {
            h2 #ann-h { "Announcements" }
            p { "Callers hear the active announcement. With " em { "Recording active" } " they can leave a message after the tone; without it they hear the announcement and the call ends." }
            form method="post" action=(here) data-dirty-warn {
                input type="hidden" name="csrf" value=(sess.csrf);
                table.grid {
                    thead { tr { th scope="col" { "Active" } th scope="col" { "Announcement" } th scope="col" { "Recording active" } th scope="col" { "Listen" } } }
                    tbody {
                        @for a in Announcement::ALL {
                            @let g = a.greeting().and_then(state);
                            @let recorded = a.greeting().is_none() || g.is_some_and(|g| g.recorded);
                            tr {
                                td { input type="radio" name="active" value=(a.as_str()) id=(format!("active-{}", a.as_str()))
                                    checked[settings.announcement == a] disabled[!recorded]
                                    aria-label=(format!("Make {} active", a.label())); }
                                td { label for=(format!("active-{}", a.as_str())) { (a.label()) }
                                    @if a == Announcement::Standard { br; small { "Your unavailable, busy or temporary greeting, or the system greeting." } }
                                    @else if !recorded { br; small { "Not recorded yet." } } }
                                td { label.inline {
                                    input type="checkbox" name="record" value=(a.as_str()) id=(format!("record-{}", a.as_str()))
                                        checked[settings.records(a)] aria-label=(format!("Recording active for {}", a.label()));
                                    span.phone-only aria-hidden="true" { "Recording active" }
                                } }
                                td {
                                    @if let Some(g) = g.filter(|g| g.recorded) {
                                        audio controls preload="none" src=(audio_url(&mailbox, g)) aria-label=(format!("Listen to {}", a.label())) {}
                                    } @else if a == Announcement::Standard {
                                        "—"
                                    } @else {
                                        "Not recorded"
                                    }
                                }
                            }
                        }
                    }
                }
                button.primary name="act" value="announcements" { "Save" }
            }
        }
        section.card #recordings aria-labelledby="rec-h" {
            h2 #rec-h { "Your recordings" }
            form method="post" action=(here) {
                input type="hidden" name="csrf" value=(sess.csrf);
                ul.greetings {
                    @for g in &all {
                        li #(format!("g-{}", g.kind.as_str())) {
                            div.head {
                                strong { (g.kind.label()) }
                                @if g.recorded {
                                    span.length aria-label="Length" { (duration(g.duration_ms as i64)) }
                                    @if g.active { span.badge { "Active" } }
                                } @else {
                                    span.muted { "Not recorded" }
                                }
                            }
                            p.hint { (explain(g.kind)) }
                            @if g.recorded {
                                audio controls preload="none" src=(audio_url(&mailbox, g)) aria-label=(format!("Listen to the {} greeting", g.kind.label())) {}
                                div.actions {
                                    @if g.kind == GreetingKind::Temporary {
                                        @if settings.temp_active {
                                            button name="act" value="temporary-off" { "Switch off" }
                                        } @else {
                                            button name="act" value="temporary-on" { "Switch on" }
                                        }
                                    }
                                    button.danger name="act" value=(format!("delete:{}", g.kind.as_str()))
                                        data-confirm=(format!("Delete the {} greeting?", g.kind.label())) { "Delete" }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.card #upload aria-labelledby="up-h" {
            h2 #up-h { "Upload a new audio file" }
            form.stack method="post" action=(upload_url) enctype="multipart/form-data" data-upload {
                input type="hidden" name="csrf" value=(sess.csrf);
                label for="kind" { "Greeting" }
                select #kind name="kind" {
                    @for k in GreetingKind::ALL { option value=(k.as_str()) { (k.label()) } }
                }
                label for="file" { "Audio file" }
                input #file type="file" name="file" required
                    accept="audio/*,.wav,.mp3,.m4a,.aac,.mp4,.ogg,.oga,.flac,.aif,.aiff";
                p.hint { "Wave files in PCM, 8 kHz, 16 bit, mono are stored as they are. Other WAV files and MP3, M4A/AAC, Ogg Vorbis, FLAC and AIFF files are converted to that format once, when you upload them. At most " (UPLOAD_LIMIT >> 20) " MB and " (max_secs / 60) ":" (format!("{:02}", max_secs % 60)) " long." }
                progress hidden max="100" value="0" aria-label="Upload progress" {}
                button.primary type="submit" { "Upload" }
            }
        }
        section.card #phone aria-labelledby="ph-h" {
            h2 #ph-h { "Record by phone" }
            (by_phone(&s))
        }
    };
    html_response(StatusCode::OK, page("Greetings", Some(&sess), body))
}

async fn greetings_action(
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
    } = match posted(&s, &headers, source, "/greetings", &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(mailbox) = mailbox_of(&sess, q.mailbox.as_deref()) else {
        return forbidden("you may only open your own mailbox");
    };
    let back = url_for("/greetings", &mailbox, mailbox == sess.who.user);
    let Some(store) = s.store.as_ref() else {
        return no_db();
    };
    let act = field(&f, "act").unwrap_or("");
    let result: Result<String, String> = match act.split_once(':') {
        Some(("delete", k)) => match GreetingKind::parse(k) {
            Some(kind) => match greetings::remove(store, &mailbox, kind).await {
                Ok(true) => {
                    audit(
                        &s,
                        &caller,
                        "greeting.delete",
                        &format!("{mailbox}/greeting/{k}"),
                        "portal",
                    )
                    .await;
                    Ok(format!("{} greeting deleted.", kind.label()))
                }
                Ok(false) => Err(format!("No {} greeting was recorded.", kind.label())),
                Err(e) => Err(e.to_string()),
            },
            None => Err("Unknown greeting.".into()),
        },
        _ if act == "announcements" => {
            let active = field(&f, "active")
                .and_then(Announcement::parse)
                .unwrap_or_default();
            let recording =
                Announcement::ALL.map(|a| f.iter().any(|(k, v)| k == "record" && v == a.as_str()));
            match greetings::set_announcements(store, &mailbox, active, recording).await {
                Ok(m) => {
                    audit(
                        &s,
                        &caller,
                        "greeting.announcements",
                        &mailbox,
                        &format!("{m:?}"),
                    )
                    .await;
                    let rec = if m.records(active) {
                        "callers can leave a message after it"
                    } else {
                        "callers hear it and cannot leave a message"
                    };
                    Ok(format!("Saved. {} is active; {rec}.", active.label()))
                }
                Err(e) => Err(format!("Not saved: {e}.")),
            }
        }
        _ if act == "temporary-on" || act == "temporary-off" => {
            let on = act == "temporary-on";
            match store.mailbox_settings(&mailbox).await {
                Ok(mut m)
                    if !on
                        || store
                            .audio_exists(&AudioKey::greeting(&mailbox, GreetingKind::Temporary))
                            .await =>
                {
                    m.temp_active = on;
                    match store.set_mailbox_settings(&mailbox, m).await {
                        Ok(()) => {
                            audit(
                                &s,
                                &caller,
                                "greeting.temporary",
                                &mailbox,
                                &format!("active={on}"),
                            )
                            .await;
                            Ok(if on {
                                "The temporary greeting is on: callers hear it instead of the others.".into()
                            } else {
                                "The temporary greeting is off.".into()
                            })
                        }
                        Err(e) => Err(e.to_string()),
                    }
                }
                Ok(_) => Err("No temporary greeting is recorded.".into()),
                Err(e) => Err(e.to_string()),
            }
        }
        _ => Err("Nothing to do.".into()),
    };
    match result {
        Ok(text) => flash_to(&s, &headers, false, text, &back),
        Err(text) => flash_to(&s, &headers, true, text, &back),
    }
}

/// The upload form (multipart: csrf, kind, file). Refusals come back as a message on the page and
/// leave the stored greeting as it was.
async fn upload(
    State(s): State<AppState>,
    Peer(source): Peer,
    headers: HeaderMap,
    Query(q): Query<MailboxQuery>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let Some(sess) = session_of(&s, &headers) else {
        return to_login("/greetings");
    };
    let Some(mailbox) = mailbox_of(&sess, q.mailbox.as_deref()) else {
        return forbidden("you may only open your own mailbox");
    };
    let back = url_for("/greetings", &mailbox, mailbox == sess.who.user);
    let refuse = |text: String| {
        flash_to(
            &s,
            &headers,
            true,
            format!("Nothing was replaced: {text}."),
            &back,
        )
    };
    let Ok(mut multipart) = multipart else {
        return refuse("the form was not sent as a file upload".into());
    };
    let (mut csrf, mut kind, mut file) = (None, None, None);
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or("").to_string();
                match field.bytes().await {
                    Ok(b) => match name.as_str() {
                        "csrf" => csrf = Some(String::from_utf8_lossy(&b).into_owned()),
                        "kind" => kind = GreetingKind::parse(&String::from_utf8_lossy(&b)),
                        "file" => file = Some(b),
                        _ => {}
                    },
                    Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                        return refuse(GreetingError::TooLarge.to_string())
                    }
                    Err(e) => return refuse(format!("the upload broke off ({})", e.body_text())),
                }
            }
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return refuse(GreetingError::TooLarge.to_string())
            }
            Err(e) => return refuse(format!("the upload broke off ({})", e.body_text())),
        }
    }
    if csrf.as_deref() != Some(sess.csrf.as_str()) {
        return forbidden("missing or wrong form token; reload the page");
    }
    let Some(kind) = kind else {
        return refuse("choose which greeting the file is for".into());
    };
    let Some(file) = file.filter(|f| !f.is_empty()) else {
        return refuse("choose a file first".into());
    };
    let Some(store) = s.store.as_ref() else {
        return no_db();
    };
    let max_ms = s.voicemail.menus.max_greeting.as_millis() as u64;
    match greetings::install(store, &mailbox, kind, file.to_vec(), max_ms).await {
        Ok(done) => {
            let caller = Caller {
                who: sess.who.clone(),
                source,
            };
            let text = done.describe();
            audit(
                &s,
                &caller,
                "greeting.upload",
                &format!("{mailbox}/greeting/{}", kind.as_str()),
                &text,
            )
            .await;
            flash_to(&s, &headers, false, text, &back)
        }
        Err(e) => refuse(e.to_string()),
    }
}
