//! Messages (visual voicemail): folders with counts, play in the browser, download, mark heard or
//! unheard, move, forward with a note, delete, on one message or a selection. Every change updates the
//! phones' message-waiting lamps at once.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use maud::html;
use parley_store::{Privilege, StoredMessage, FOLDERS};
use serde::Deserialize;

use super::{
    duration, field, flash_to, folder_label, forbidden, html_response, mailbox_of, no_db, page,
    posted, session_of, to_login, when, Posted,
};
use crate::api::{audit, Caller, Peer};
use crate::AppState;

/// The Messages routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/messages", get(messages_page).post(messages_action))
        .route("/messages/{id}", get(message_link))
}

#[derive(Deserialize)]
struct MessagesQuery {
    folder: Option<String>,
    mailbox: Option<String>,
    notice: Option<String>,
    n: Option<u32>,
}

impl MessagesQuery {
    /// The folder shown (New unless a known one is asked for).
    fn folder(&self) -> &str {
        self.folder
            .as_deref()
            .filter(|f| FOLDERS.contains(f))
            .unwrap_or("new")
    }
}

fn notice_text(q: &MessagesQuery) -> Option<String> {
    let n = q.n.unwrap_or(0);
    let s = if n == 1 { "" } else { "s" };
    let text = match q.notice.as_deref()? {
        "deleted" => format!("Deleted {n} message{s}."),
        "heard" => format!("Marked {n} message{s} as heard."),
        "unheard" => format!("Marked {n} message{s} as new."),
        f if FOLDERS.contains(&f) => format!("Moved {n} message{s} to {}.", folder_label(f)),
        "none" => "Select one or more messages first.".to_string(),
        _ => return None,
    };
    Some(text)
}

fn messages_url(mailbox: &str, own: bool, folder: &str) -> String {
    if own {
        format!("/messages?folder={folder}")
    } else {
        format!("/messages?folder={folder}&mailbox={mailbox}")
    }
}

async fn messages_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<MessagesQuery>,
) -> Response {
    let Some(sess) = session_of(&s, &headers) else {
        return to_login("/messages");
    };
    let Some(mailbox) = mailbox_of(&sess, q.mailbox.as_deref()) else {
        return forbidden("you may only open your own mailbox");
    };
    let own = mailbox == sess.who.user;
    let folder = q.folder().to_string();
    let Some(store) = s.store.as_ref() else {
        return no_db();
    };
    let (all, users) = match (
        store.list_messages(&mailbox).await,
        store.list_users().await,
    ) {
        (Ok(a), Ok(u)) => (a, u),
        _ => return (StatusCode::INTERNAL_SERVER_ERROR, "database error").into_response(),
    };
    let owner = users
        .iter()
        .find(|u| u.extension == mailbox)
        .map(|u| u.name.clone())
        .unwrap_or_else(|| mailbox.clone());
    let caller_name = |m: &StoredMessage| -> String {
        let num = m.caller.clone().unwrap_or_default();
        let dir = users
            .iter()
            .find(|u| !num.is_empty() && u.extension == num)
            .map(|u| u.name.clone());
        dir.or_else(|| m.caller_name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| {
                if num.is_empty() {
                    "Unknown caller".into()
                } else {
                    num.clone()
                }
            })
    };
    let mut list: Vec<&StoredMessage> = all.iter().filter(|m| m.folder == folder).collect();
    list.reverse(); // newest first
    let base = messages_url(&mailbox, own, &folder);
    let body = html! {
        h1 { "Messages" @if !own { " of " (owner) " (" (mailbox) ")" } }
        @if let Some(t) = notice_text(&q) {
            p.notice role="status" { (t) }
        }
        nav.folders aria-label="Folders" {
            @for f in FOLDERS {
                @let count = all.iter().filter(|m| m.folder == f).count();
                a href=(messages_url(&mailbox, own, f)) aria-current=[(f == folder).then_some("page")] {
                    (folder_label(f)) " " span.count { (count) }
                }
            }
        }
        @if list.is_empty() {
            p.empty { "No messages in " (folder_label(&folder)) "." }
        } @else {
            form method="post" action=(base) {
                input type="hidden" name="csrf" value=(sess.csrf);
                div.bulk role="group" aria-label="Selected messages" {
                    label { input type="checkbox" data-select-all; " All" }
                    label { "Move selected to "
                        select name="to" {
                            @for f in FOLDERS { @if f != folder { option value=(f) { (folder_label(f)) } } }
                        }
                    }
                    button name="act" value="move" { "Move" }
                    @if folder == "new" {
                        button name="act" value="heard" { "Mark heard" }
                    } @else {
                        button name="act" value="unheard" { "Mark new" }
                    }
                    button.danger name="act" value="delete" data-confirm="Delete the selected messages? This cannot be undone." { "Delete" }
                }
                ul.messages {
                    @for m in &list {
                        @let (iso, shown) = when(m.received_at);
                        @let who = caller_name(m);
                        @let audio = format!("/api/v1/mailboxes/{}/messages/{}/audio", mailbox, m.id);
                        li.message #(format!("m{}", m.id)) data-id=(m.id) {
                            div.head {
                                label.pick {
                                    input type="checkbox" name="sel" value=(m.id) aria-label=(format!("Select the message from {who}"));
                                }
                                div.from {
                                    strong.caller { (who) }
                                    @if let Some(n) = &m.caller { @if *n != who { " " span.number { (n) } } }
                                }
                                time datetime=(iso) { (shown) }
                                span.length aria-label="Length" { (duration(m.duration_ms)) }
                            }
                            @if let Some(by) = &m.forwarded_by {
                                p.forwarded {
                                    "Forwarded by " (users.iter().find(|u| u.extension == *by).map(|u| u.name.as_str()).unwrap_or(by.as_str()))
                                    @if let Some(n) = &m.note { ": " q { (n) } }
                                }
                            }
                            audio controls preload="metadata" src=(audio) aria-label=(format!("Message from {who}")) {
                                a href=(audio) { "Download the message" }
                            }
                            div.actions {
                                a.button href=(audio) download=(format!("message-{}.wav", m.id)) { "Download" }
                                @if m.folder == "new" {
                                    button name="act" value=(format!("heard:{}", m.id)) { "Mark heard" }
                                } @else {
                                    button name="act" value=(format!("unheard:{}", m.id)) { "Mark new" }
                                }
                                label { span.visually-hidden { "Folder for this message" }
                                    select name=(format!("to_{}", m.id)) {
                                        @for f in FOLDERS { @if f != m.folder { option value=(f) { (folder_label(f)) } } }
                                    }
                                }
                                button name="act" value=(format!("move:{}", m.id)) { "Move" }
                                label { span.visually-hidden { "Forward this message to" }
                                    select name=(format!("fwd_{}", m.id)) {
                                        @for u in users.iter().filter(|u| u.extension != mailbox) {
                                            option value=(u.extension) { (u.name) " (" (u.extension) ")" }
                                        }
                                    }
                                }
                                input.note name=(format!("note_{}", m.id)) maxlength="500" placeholder="Note (optional)"
                                    aria-label="Note for the recipient";
                                button name="act" value=(format!("forward:{}", m.id)) { "Forward" }
                                button.danger name="act" value=(format!("delete:{}", m.id)) data-confirm="Delete this message? This cannot be undone." { "Delete" }
                            }
                        }
                    }
                }
            }
        }
    };
    html_response(StatusCode::OK, page("Messages", Some(&sess), body))
}

async fn messages_action(
    State(s): State<AppState>,
    Peer(source): Peer,
    headers: HeaderMap,
    Query(q): Query<MessagesQuery>,
    body: Bytes,
) -> Response {
    let Posted {
        sess,
        fields: f,
        caller,
    } = match posted(&s, &headers, source, "/messages", &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(mailbox) = mailbox_of(&sess, q.mailbox.as_deref()) else {
        return forbidden("you may only open your own mailbox");
    };
    let own = mailbox == sess.who.user;
    let folder = q.folder();
    let Some(store) = s.store.as_ref() else {
        return no_db();
    };
    let act = field(&f, "act").unwrap_or("");
    // One message ("move:12") or the selection ("move").
    let (verb, ids, to) = match act.split_once(':') {
        Some((v, id)) => {
            let to = field(&f, &format!("to_{id}")).map(str::to_string);
            (v, id.parse::<i64>().ok().into_iter().collect(), to)
        }
        None => (
            act,
            f.iter()
                .filter(|(k, _)| k == "sel")
                .filter_map(|(_, v)| v.parse::<i64>().ok())
                .collect::<Vec<_>>(),
            field(&f, "to").map(str::to_string),
        ),
    };
    let back = messages_url(&mailbox, own, folder);
    if verb == "forward" {
        return forward(&s, &headers, &caller, &mailbox, &ids, &f, &back).await;
    }
    if ids.is_empty() {
        return Redirect::to(&format!("{back}&notice=none")).into_response();
    }
    let mut done = 0;
    for id in ids {
        let Ok(Some(m)) = store.get_message(id).await else {
            continue;
        };
        if m.mailbox != mailbox {
            continue;
        }
        let target = format!("{mailbox}/message/{id}");
        let ok = match verb {
            "delete" => store.delete_message(id).await.is_ok(),
            "heard" if m.folder == "new" => store.move_message(id, "old").await.is_ok(),
            "unheard" => store.move_message(id, "new").await.is_ok(),
            "move" => match to.as_deref().filter(|t| FOLDERS.contains(t)) {
                Some(t) => store.move_message(id, t).await.is_ok(),
                None => false,
            },
            _ => false,
        };
        if ok {
            done += 1;
            let action = if verb == "delete" {
                "message.delete"
            } else {
                "message.move"
            };
            audit(&s, &caller, action, &target, "portal").await;
        }
    }
    if done > 0 {
        crate::api::mailbox_changed(&s, &mailbox);
    }
    let notice = match verb {
        "move" => to.as_deref().unwrap_or("none").to_string(),
        "delete" => "deleted".to_string(),
        v => v.to_string(),
    };
    Redirect::to(&format!("{back}&notice={notice}&n={done}")).into_response()
}

/// The link in a notification: the message in its folder.
async fn message_link(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let Some(sess) = session_of(&s, &headers) else {
        return to_login(&format!("/messages/{id}"));
    };
    let Some(store) = s.store.as_ref() else {
        return no_db();
    };
    match store.get_message(id).await {
        Ok(Some(m)) if m.mailbox == sess.who.user || sess.who.has(Privilege::Admin) => {
            let own = m.mailbox == sess.who.user;
            let url = format!("{}#m{id}", messages_url(&m.mailbox, own, &m.folder));
            let mut r = Redirect::to(&url).into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        _ => html_response(
            StatusCode::NOT_FOUND,
            page(
                "Messages",
                Some(&sess),
                html! { h1 { "Message not found" } p { "It may have been deleted. " a href="/messages" { "Your messages" } } },
            ),
        ),
    }
}

/// Forward one message to another mailbox with an optional note (form fields `fwd_ID`, `note_ID`).
async fn forward(
    s: &AppState,
    headers: &HeaderMap,
    caller: &Caller,
    mailbox: &str,
    ids: &[i64],
    f: &[(String, String)],
    back: &str,
) -> Response {
    let Some(store) = s.store.as_ref() else {
        return no_db();
    };
    let Some(&id) = ids.first() else {
        return flash_to(s, headers, true, "Choose a message to forward.", back);
    };
    let to = field(f, &format!("fwd_{id}")).unwrap_or("").to_string();
    let note = field(f, &format!("note_{id}"));
    match store.get_message(id).await {
        Ok(Some(m)) if m.mailbox == mailbox => {}
        _ => return flash_to(s, headers, true, "That message no longer exists.", back),
    }
    match store.forward_message(id, &to, &caller.who.user, note).await {
        Ok(Some(_)) => {
            audit(
                s,
                caller,
                "message.forward",
                &format!("{mailbox}/message/{id}"),
                &format!("to={to} portal"),
            )
            .await;
            crate::api::mailbox_changed(s, &to);
            let name = store
                .get_user(&to)
                .await
                .ok()
                .flatten()
                .map(|u| u.name)
                .unwrap_or_else(|| to.clone());
            flash_to(
                s,
                headers,
                false,
                format!("Forwarded the message to {name} ({to})."),
                back,
            )
        }
        Ok(None) => flash_to(s, headers, true, "That message no longer exists.", back),
        Err(e) => flash_to(s, headers, true, format!("Not forwarded: {e}."), back),
    }
}
