//! The web portal: server-rendered pages (maud) that work without JavaScript; a few lines of script
//! only ask for confirmation before deleting. Users log in with extension and password (the same
//! session cookie and CSRF token as the JSON API; forms carry the token in a hidden field).
//!
//! Pages so far: log in / log out, and Messages (visual voicemail: folders with counts, play in the
//! browser, download, mark heard or unheard, move, delete, on one message or a selection). Every change
//! updates the phones' message-waiting lamps at once. Administrators may open any mailbox
//! (`?mailbox=101`).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::TimeZone;
use maud::{html, Markup, DOCTYPE};
use parley_store::{Privilege, StoredMessage, FOLDERS};
use serde::Deserialize;

use crate::api::session::{self, WebSession};
use crate::api::{audit, Caller, Peer};
use crate::{auth, AppState};

/// The portal's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/messages") }))
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
        .route("/messages", get(messages_page).post(messages_action))
        .route("/messages/{id}", get(message_link))
        .route("/portal.css", get(css))
        .route("/portal.js", get(js))
}

const CSS: &str = include_str!("portal/portal.css");
const JS: &str = include_str!("portal/portal.js");

async fn css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS).into_response()
}

async fn js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        JS,
    )
        .into_response()
}

fn folder_label(f: &str) -> &'static str {
    match f {
        "new" => "New",
        "old" => "Old",
        "work" => "Work",
        "family" => "Family",
        "friends" => "Friends",
        _ => "Other",
    }
}

/// The page frame: header with navigation and the logged-in account.
fn page(title: &str, who: Option<&WebSession>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Parley" }
                link rel="stylesheet" href="/portal.css";
                script src="/portal.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "Parley" }
                    @if let Some(s) = who {
                        nav aria-label="Portal" {
                            a href="/messages" aria-current=[(title == "Messages").then_some("page")] { "Messages" }
                        }
                        form.logout method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(s.csrf);
                            span.who { (s.who.user) }
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

fn html_response(status: StatusCode, m: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        m.into_string(),
    )
        .into_response()
}

/// The session of a request.
fn session_of(s: &AppState, headers: &HeaderMap) -> Option<WebSession> {
    session::from_cookie(&s.sessions, headers).map(|(_, sess)| sess)
}

/// A redirect to the login page that comes back to `here`.
fn to_login(here: &str) -> Response {
    let next: String = form_urlencoded::byte_serialize(here.as_bytes()).collect();
    Redirect::to(&format!("/login?next={next}")).into_response()
}

/// A local path to go back to after logging in (never another site).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.into(),
        _ => "/messages".into(),
    }
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

fn login_form(next: &str, error: Option<&str>, ext: &str) -> Markup {
    page(
        "Log in",
        None,
        html! {
            section.card.login {
                h1 { "Log in" }
                p { "Use your extension number and your portal password (not your voicemail PIN)." }
                @if let Some(e) = error {
                    p.error role="alert" { (e) }
                }
                form method="post" action="/login" {
                    input type="hidden" name="next" value=(next);
                    label for="extension" { "Extension" }
                    input #extension name="extension" inputmode="numeric" autocomplete="username" required value=(ext);
                    label for="password" { "Password" }
                    input #password name="password" type="password" autocomplete="current-password" required;
                    button.primary type="submit" { "Log in" }
                }
            }
        },
    )
}

async fn login_page(Query(q): Query<NextQuery>) -> Response {
    html_response(
        StatusCode::OK,
        login_form(&safe_next(q.next.as_deref()), None, ""),
    )
}

#[derive(Deserialize)]
struct LoginForm {
    extension: String,
    password: String,
    next: Option<String>,
}

async fn login_submit(
    State(s): State<AppState>,
    Peer(source): Peer,
    headers: HeaderMap,
    axum::Form(f): axum::Form<LoginForm>,
) -> Response {
    let next = safe_next(f.next.as_deref());
    let Some(store) = s.store.as_ref() else {
        return html_response(
            StatusCode::SERVICE_UNAVAILABLE,
            login_form(&next, Some("The server has no database."), ""),
        );
    };
    match auth::password(store, &s.guard, f.extension.trim(), &f.password, source).await {
        Ok(who) => {
            let (_, cookie) = session::open(&s, who.clone(), &headers);
            let caller = Caller {
                who: who.clone(),
                source,
            };
            audit(&s, &caller, "session.login", &who.user, "portal").await;
            let mut r = Redirect::to(&next).into_response();
            r.headers_mut().insert(header::SET_COOKIE, cookie);
            r
        }
        Err(auth::AuthFailure::Locked) => html_response(
            StatusCode::TOO_MANY_REQUESTS,
            login_form(
                &next,
                Some("Too many failed logins. Wait a few minutes and try again."),
                &f.extension,
            ),
        ),
        Err(auth::AuthFailure::Unauthorized) => html_response(
            StatusCode::UNAUTHORIZED,
            login_form(&next, Some("Wrong extension or password."), &f.extension),
        ),
        Err(auth::AuthFailure::Internal) => html_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            login_form(&next, Some("The server could not check your login."), ""),
        ),
    }
}

/// The form fields of a POST, in order (repeated names kept).
fn fields(body: &Bytes) -> Vec<(String, String)> {
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn field<'a>(f: &'a [(String, String)], name: &str) -> Option<&'a str> {
    f.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A changing form must carry the session's CSRF token.
fn csrf_ok(sess: &WebSession, f: &[(String, String)]) -> bool {
    field(f, "csrf").is_some_and(|t| t == sess.csrf)
}

fn forbidden(why: &str) -> Response {
    (StatusCode::FORBIDDEN, why.to_string()).into_response()
}

async fn logout(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let f = fields(&body);
    if let Some((_, sess)) = session::from_cookie(&s.sessions, &headers) {
        if !csrf_ok(&sess, &f) {
            return forbidden("missing or wrong form token; reload the page");
        }
    }
    let clear = session::close(&s, &headers);
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut().insert(header::SET_COOKIE, clear);
    r
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

/// Which mailbox a request is about: the caller's own, or any for an administrator (`None`: refused).
fn mailbox_of(sess: &WebSession, asked: Option<&str>) -> Option<String> {
    match asked {
        None => Some(sess.who.user.clone()),
        Some(m) if m == sess.who.user || sess.who.has(Privilege::Admin) => Some(m.to_string()),
        Some(_) => None,
    }
}

fn duration(ms: i64) -> String {
    let secs = (ms + 500) / 1000;
    format!("{}:{:02}", secs / 60, secs % 60)
}

fn when(t: i64) -> (String, String) {
    let at = chrono::Local
        .timestamp_opt(t, 0)
        .single()
        .unwrap_or_else(|| chrono::Local.timestamp_opt(0, 0).unwrap());
    (
        at.format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        at.format("%a %-d %b %Y, %H:%M").to_string(),
    )
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
        return (StatusCode::SERVICE_UNAVAILABLE, "no database").into_response();
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
    let Some(sess) = session_of(&s, &headers) else {
        return to_login("/messages");
    };
    let f = fields(&body);
    if !csrf_ok(&sess, &f) {
        return forbidden("missing or wrong form token; reload the page");
    }
    let Some(mailbox) = mailbox_of(&sess, q.mailbox.as_deref()) else {
        return forbidden("you may only open your own mailbox");
    };
    let own = mailbox == sess.who.user;
    let folder = q.folder();
    let Some(store) = s.store.as_ref() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no database").into_response();
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
    if ids.is_empty() {
        return Redirect::to(&format!("{back}&notice=none")).into_response();
    }
    let caller = Caller {
        who: sess.who.clone(),
        source,
    };
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
        return (StatusCode::SERVICE_UNAVAILABLE, "no database").into_response();
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
