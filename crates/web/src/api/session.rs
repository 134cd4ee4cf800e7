//! Browser sessions: logging in with extension and password sets an HttpOnly, SameSite=Strict cookie
//! (Secure when the request came over HTTPS through a proxy); requests that change something with that
//! cookie must carry the session's CSRF token in `X-CSRF-Token`. Sessions live in memory (a restart logs
//! everyone out) and expire after 12 hours. Every request re-reads the account behind its session
//! ([`refresh`]): a deleted account's sessions end at once, a demoted one loses its privileges at once,
//! and a password changed anywhere (portal, API, command line) ends every other session of the account.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{audit, ApiResult, Body, Caller, Peer};
use crate::{auth, AppState};

/// Name of the session cookie.
pub const COOKIE: &str = "parley_session";

const LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Most sessions kept at once (the oldest end first).
pub const SESSION_LIMIT: usize = 10_000;

/// Most sessions of one account (a new login ends its oldest).
pub const SESSIONS_PER_ACCOUNT: usize = 20;

/// One logged-in browser.
#[derive(Debug, Clone)]
pub struct WebSession {
    /// Account and privileges.
    pub who: auth::Caller,
    /// Token that changing requests must echo.
    pub csrf: String,
    /// A message for the next page shown (set by a form, shown once after its redirect).
    pub flash: Option<Flash>,
    /// Fingerprint of the password the session was opened with ([`auth::credential`]).
    credential: String,
    expires: Instant,
}

/// A one-time message of the portal: what a form did, or why it did nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    /// It reports a refusal or failure.
    pub error: bool,
    /// The text.
    pub text: String,
}

/// Keep `flash` for the next page the browser of `headers` shows.
pub fn set_flash(sessions: &Sessions, headers: &HeaderMap, flash: Flash) {
    if let Some((id, _)) = from_cookie(sessions, headers) {
        {
            let mut map = crate::lock(sessions);
            if let Some(sess) = map.get_mut(&id) {
                sess.flash = Some(flash);
            }
        }
    }
}

/// The session of `headers` with its flash message taken out (so it shows once).
pub fn take_flash(sessions: &Sessions, headers: &HeaderMap) -> Option<WebSession> {
    let (id, sess) = from_cookie(sessions, headers)?;
    if sess.flash.is_some() {
        {
            let mut map = crate::lock(sessions);
            if let Some(live) = map.get_mut(&id) {
                live.flash = None;
            }
        }
    }
    Some(sess)
}

/// Sessions by id.
pub type Sessions = Arc<Mutex<HashMap<String, WebSession>>>;

#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

fn random_hex() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The session a request's cookie names, if live.
pub fn from_cookie(sessions: &Sessions, headers: &HeaderMap) -> Option<(String, WebSession)> {
    let id = cookie_id(headers)?;
    let mut map = crate::lock(sessions);
    let t = now();
    map.retain(|_, s| s.expires > t);
    map.get(&id).cloned().map(|s| (id, s))
}

/// Login with extension and password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// Extension.
    pub extension: String,
    /// Password.
    pub password: String,
}

/// A new session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionOut {
    /// The logged-in extension.
    pub extension: String,
    /// Send it as `X-CSRF-Token` with every request that changes something.
    pub csrf_token: String,
}

/// Log in: sets the session cookie.
#[utoipa::path(post, path = "/api/v1/session", tag = "account", request_body = Login, security(()),
    responses((status = 201, body = SessionOut), (status = 400, body = super::ErrorBody), (status = 401, body = super::ErrorBody), (status = 429, body = super::ErrorBody)))]
pub async fn login(
    State(s): State<AppState>,
    Peer(source): Peer,
    headers: HeaderMap,
    Body(l): Body<Login>,
) -> ApiResult<Response> {
    let (who, credential) = auth::password_login(
        super::store(&s)?,
        &s.guard,
        &l.extension,
        &l.password,
        source,
    )
    .await?;
    let (csrf, cookie) = open(&s, who.clone(), credential, &headers);
    let caller = Caller {
        who: who.clone(),
        source,
    };
    audit(&s, &caller, "session.login", &who.user, "").await;
    let mut r = (
        StatusCode::CREATED,
        Json(SessionOut {
            extension: who.user,
            csrf_token: csrf,
        }),
    )
        .into_response();
    r.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(r)
}

/// Start a session for `who`, who logged in with the password of fingerprint `credential`: returns
/// its CSRF token and the `Set-Cookie` value (Secure when the request came over HTTPS through a proxy).
pub fn open(
    s: &AppState,
    who: auth::Caller,
    credential: String,
    headers: &HeaderMap,
) -> (String, HeaderValue) {
    let id = random_hex();
    let csrf = random_hex();
    {
        let mut map = crate::lock(&s.sessions);
        let t = now();
        map.retain(|_, s| s.expires > t);
        // An account keeps at most so many sessions (its oldest ends first), and the table is
        // bounded: a flood of logins ends old sessions, never the server's memory.
        let mine: Vec<(String, Instant)> = map
            .iter()
            .filter(|(_, w)| w.who.user == who.user)
            .map(|(k, w)| (k.clone(), w.expires))
            .collect();
        if mine.len() >= SESSIONS_PER_ACCOUNT {
            if let Some((oldest, _)) = mine.iter().min_by_key(|(_, e)| *e) {
                map.remove(oldest);
            }
        }
        while map.len() >= SESSION_LIMIT {
            let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            map.remove(&oldest);
        }
        map.insert(
            id.clone(),
            WebSession {
                who,
                csrf: csrf.clone(),
                flash: None,
                credential,
                expires: t + LIFETIME,
            },
        );
    }
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    let cookie = format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        LIFETIME.as_secs(),
        if https { "; Secure" } else { "" }
    );
    let cookie = HeaderValue::from_str(&cookie).expect("hex id and ASCII attributes");
    (csrf, cookie)
}

fn cookie_id(headers: &HeaderMap) -> Option<String> {
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    cookies.split(';').find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == COOKIE).then(|| v.to_string())
    })
}

/// Before every request: re-read the account behind the request's session. A deleted account, or a
/// password changed since the session was opened, ends the session; privileges are the account's now.
pub async fn refresh(
    State(s): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    // The portal's stylesheet and script and the health check use no session: no account lookup.
    let sessionless = matches!(req.uri().path(), "/portal.css" | "/portal.js" | "/health");
    if sessionless {
        return next.run(req).await;
    }
    if let (Some((id, sess)), Some(store)) =
        (from_cookie(&s.sessions, req.headers()), s.store.as_ref())
    {
        match store.login_record(&sess.who.user).await {
            Ok(Some((hash, privileges))) if auth::credential(&hash) == sess.credential => {
                let mut map = crate::lock(&s.sessions);
                if let Some(live) = map.get_mut(&id) {
                    live.who.privileges = privileges;
                }
            }
            Ok(_) => {
                {
                    let mut map = crate::lock(&s.sessions);
                    map.remove(&id);
                }
                tracing::info!(user = %sess.who.user, "session ended: the account was removed or its password changed");
            }
            // The database is away: the session cannot be checked, so it is not used for this request.
            Err(_) => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the account store is unavailable\n",
                )
                    .into_response()
            }
        }
    }
    next.run(req).await
}

/// After the caller changed its own password: the session of `headers` goes on with the new one
/// (every other session of the account ends at its next request).
pub async fn keep_after_password_change(s: &AppState, headers: &HeaderMap) {
    let Some(id) = cookie_id(headers) else {
        return;
    };
    let user = crate::lock(&s.sessions)
        .get(&id)
        .map(|w| w.who.user.clone());
    let (Some(user), Some(store)) = (user, s.store.as_ref()) else {
        return;
    };
    if let Ok(Some((hash, _))) = store.login_record(&user).await {
        {
            let mut map = crate::lock(&s.sessions);
            if let Some(live) = map.get_mut(&id) {
                live.credential = auth::credential(&hash);
            }
        }
    }
}

/// End the session a request's cookie names; returns the `Set-Cookie` value clearing it.
pub fn close(s: &AppState, headers: &HeaderMap) -> HeaderValue {
    if let Some((id, _)) = from_cookie(&s.sessions, headers) {
        {
            let mut map = crate::lock(&s.sessions);
            map.remove(&id);
        }
    }
    HeaderValue::from_static("parley_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Log out: ends the session and clears the cookie.
#[utoipa::path(delete, path = "/api/v1/session", tag = "account",
    responses((status = 204), (status = 401, body = super::ErrorBody), (status = 403, body = super::ErrorBody)))]
pub async fn logout(
    caller: Caller,
    State(s): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let clear = close(&s, &headers);
    audit(&s, &caller, "session.logout", &caller.who.user, "").await;
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(header::SET_COOKIE, clear);
    Ok(r)
}
