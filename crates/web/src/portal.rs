//! The web portal: server-rendered pages (maud) that work without JavaScript; a few lines of script
//! only ask for confirmation before deleting. Users log in with extension and password (the same
//! session cookie and CSRF token as the JSON API; forms carry the token in a hidden field).
//!
//! Pages so far: log in / log out, and Messages (visual voicemail: folders with counts, play in the
//! browser, download, mark heard or unheard, move, delete, on one message or a selection). Every change
//! updates the phones' message-waiting lamps at once. Administrators may open any mailbox
//! (`?mailbox=101`).

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::TimeZone;
use maud::{html, Markup, DOCTYPE};
use parley_store::Privilege;
use serde::Deserialize;

use crate::api::session::{self, WebSession};
use crate::api::{audit, Caller, Peer};
use crate::{auth, AppState};

mod account;
mod admin;
mod conferences;
mod directory;
mod extension;
mod greetings;
mod messages;
mod presence;
mod trunks;

/// The portal's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/messages") }))
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
        .merge(messages::routes())
        .merge(greetings::routes())
        .merge(account::routes())
        .merge(directory::routes())
        .merge(admin::routes())
        .merge(trunks::routes())
        .merge(presence::routes())
        .merge(extension::routes())
        .merge(conferences::routes())
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

pub(super) fn folder_label(f: &str) -> &'static str {
    match f {
        "new" => "New",
        "old" => "Old",
        "work" => "Work",
        "family" => "Family",
        "friends" => "Friends",
        _ => "Other",
    }
}

/// The portal's pages, in the order of the navigation (the page title is the label).
const NAV: &[(&str, &str)] = &[
    ("/messages", "Messages"),
    ("/greetings", "Greetings"),
    ("/settings", "Message settings"),
    ("/account", "My Account"),
    ("/conferences", "My Conferences"),
    ("/extension", "My Extension"),
    ("/presence", "My Presence"),
    ("/directory", "Directory"),
    ("/calls", "My Call Details"),
    ("/phone", "Phone Functions"),
];

/// The page frame: header with navigation, the logged-in account, and the one-time message a form
/// left for this page.
pub(super) fn page(title: &str, who: Option<&WebSession>, body: Markup) -> Markup {
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
                            @for (href, label) in NAV {
                                a href=(href) aria-current=[(title == *label).then_some("page")] { (label) }
                            }
                            @if s.who.has(Privilege::Admin) {
                                a href="/admin" aria-current=[(title == "Admin").then_some("page")] { "Admin" }
                                a href="/admin/trunks" aria-current=[(title == "Trunks").then_some("page")] { "Trunks" }
                            }
                        }
                        form.logout method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(s.csrf);
                            span.who { (s.who.user) }
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main {
                    @if let Some(f) = who.and_then(|w| w.flash.as_ref()) {
                        @if f.error {
                            p.error role="alert" { (f.text) }
                        } @else {
                            p.notice role="status" { (f.text) }
                        }
                    }
                    (body)
                }
            }
        }
    }
}

pub(super) fn html_response(status: StatusCode, m: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        m.into_string(),
    )
        .into_response()
}

/// The session of a request, with the one-time message a form left for the page it shows.
pub(super) fn session_of(s: &AppState, headers: &HeaderMap) -> Option<WebSession> {
    session::take_flash(&s.sessions, headers)
}

/// A portal form that changes something: the session, the form's fields (its CSRF token checked)
/// and the caller, for the audit log.
pub(super) struct Posted {
    pub(super) sess: WebSession,
    pub(super) fields: Vec<(String, String)>,
    pub(super) caller: Caller,
}

/// Read a posted form of page `here`: without a session the browser goes to log in (and back); a
/// missing or wrong CSRF token is refused.
#[allow(clippy::result_large_err)] // the error is the response itself, returned at once
pub(super) fn posted(
    s: &AppState,
    headers: &HeaderMap,
    source: std::net::IpAddr,
    here: &str,
    body: &Bytes,
) -> Result<Posted, Response> {
    let sess = session_of(s, headers).ok_or_else(|| to_login(here))?;
    let fields = fields(body);
    if !csrf_ok(&sess, &fields) {
        return Err(forbidden("missing or wrong form token; reload the page"));
    }
    let caller = Caller {
        who: sess.who.clone(),
        source,
    };
    Ok(Posted {
        sess,
        fields,
        caller,
    })
}

/// The answer when the server runs without a database.
pub(super) fn no_db() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "no database").into_response()
}

/// Leave a one-time message for the next page and go there (after a form).
pub(super) fn flash_to(
    s: &AppState,
    headers: &HeaderMap,
    error: bool,
    text: impl Into<String>,
    url: &str,
) -> Response {
    session::set_flash(
        &s.sessions,
        headers,
        session::Flash {
            error,
            text: text.into(),
        },
    );
    Redirect::to(url).into_response()
}

/// `path`, with `?mailbox=` when an administrator works on someone else's mailbox.
pub(super) fn url_for(path: &str, mailbox: &str, own: bool) -> String {
    if own {
        path.to_string()
    } else {
        format!("{path}?mailbox={mailbox}")
    }
}

/// The heading suffix naming whose page an administrator is looking at.
pub(super) fn whose(users: &[parley_store::User], mailbox: &str, own: bool) -> String {
    if own {
        return String::new();
    }
    let name = users
        .iter()
        .find(|u| u.extension == mailbox)
        .map(|u| u.name.as_str())
        .unwrap_or(mailbox);
    format!(" of {name} ({mailbox})")
}

/// A redirect to the login page that comes back to `here`.
pub(super) fn to_login(here: &str) -> Response {
    let next: String = form_urlencoded::byte_serialize(here.as_bytes()).collect();
    Redirect::to(&format!("/login?next={next}")).into_response()
}

/// A local path to go back to after logging in (never another site).
/// Where to go after logging in: a path of this site only. Anything a browser could read as another
/// origin is refused: `//host`, `/\\host`, and control or white space (browsers drop tabs and newlines,
/// so `/%09/evil.example` would become `//evil.example`).
fn safe_next(next: Option<&str>) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "/._~!$&'()*+,;=:@%?-".contains(c);
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && n.len() <= 2048
                && n.chars().all(allowed) =>
        {
            n.into()
        }
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
    match auth::password_login(store, &s.guard, f.extension.trim(), &f.password, source).await {
        Ok((who, credential)) => {
            let (_, cookie) = session::open(&s, who.clone(), credential, &headers);
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
pub(super) fn fields(body: &Bytes) -> Vec<(String, String)> {
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub(super) fn field<'a>(f: &'a [(String, String)], name: &str) -> Option<&'a str> {
    f.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A changing form must carry the session's CSRF token.
pub(super) fn csrf_ok(sess: &WebSession, f: &[(String, String)]) -> bool {
    field(f, "csrf").is_some_and(|t| t == sess.csrf)
}

pub(super) fn forbidden(why: &str) -> Response {
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

/// Which mailbox a request is about: the caller's own, or any for an administrator (`None`: refused).
pub(super) fn mailbox_of(sess: &WebSession, asked: Option<&str>) -> Option<String> {
    match asked {
        None => Some(sess.who.user.clone()),
        Some(m) if m == sess.who.user || sess.who.has(Privilege::Admin) => Some(m.to_string()),
        Some(_) => None,
    }
}

pub(super) fn duration(ms: i64) -> String {
    let secs = (ms + 500) / 1000;
    format!("{}:{:02}", secs / 60, secs % 60)
}

pub(super) fn when(t: i64) -> (String, String) {
    let at = chrono::Local
        .timestamp_opt(t, 0)
        .single()
        .unwrap_or_else(|| chrono::Local.timestamp_opt(0, 0).unwrap());
    (
        at.format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        at.format("%a %-d %b %Y, %H:%M").to_string(),
    )
}
