//! Parley's HTTP surface: `/health`, `/api/v1/status` (registrations and calls in progress, for
//! administrators and the local command line), MWI calibrate, the JSON API, the portal and the
//! Callisto-compatible ManagerAssistant API (`callisto.rs`, HTTP Basic via `auth.rs`), all behind the
//! outer defences of `harden.rs`. Never touches SIP or media itself: the SIP server is reached through
//! `Control` messages.
#![warn(missing_docs)]

pub mod api;
pub mod auth;
mod callisto;
pub mod conferences;
pub mod greetings;
pub mod harden;
mod portal;
pub mod routing;
pub mod trunks;

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{any, get, post};
use axum::{Json, Router};
use parley_core::switch::status::{snapshot, Status, StatusHandle};
use parley_core::switch::Control;
use tokio::sync::{mpsc, oneshot};

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    /// The SIP server's live status.
    pub status: StatusHandle,
    /// Requests to the SIP server (absent in tests without one).
    pub control: Option<mpsc::UnboundedSender<Control>>,
    /// The token the local command line proves itself with (written into the data directory).
    pub control_token: Option<String>,
    /// The store (absent in tests without one).
    pub store: Option<parley_store::Store>,
    /// Failed HTTP logins, per account and per source address.
    pub guard: auth::Guard,
    /// The voicemail settings (PIN rules, greeting limits, dial codes, operator) the SIP server runs with.
    pub voicemail: parley_core::switch::VmSettings,
    /// Logged-in browsers.
    pub sessions: api::session::Sessions,
    /// How long a call rings when a route does not say (the system's no-answer time), in seconds.
    pub no_answer_secs: u64,
    /// The feature code that sets one's presence from the phone (empty: none).
    pub presence_code: String,
    /// The Conference Center's settings (its extension, seats, rooms at once).
    pub conference: parley_core::conference::ConferenceConfig,
    /// The time zone new scheduled conferences are in unless their Creator chooses another (a tz
    /// database name: the server's own).
    pub time_zone: String,
}

/// The file in the data directory holding the control token (mode 0600).
pub const CONTROL_TOKEN_FILE: &str = "control.token";

/// Make a new control token and write it into `data` (readable by this user only); returns it.
pub fn write_control_token(data: &std::path::Path) -> std::io::Result<String> {
    use std::io::Write;
    let bytes: [u8; 32] = rand::random();
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let path = data.join(CONTROL_TOKEN_FILE);
    let _ = std::fs::remove_file(&path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&path)?;
    f.write_all(token.as_bytes())?;
    f.sync_all()?;
    Ok(token)
}

/// The operator of the running server: an administrator, or the local command line holding the
/// control token.
pub(crate) struct Operator;

impl axum::extract::FromRequestParts<AppState> for Operator {
    type Rejection = api::ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let bearer = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().strip_prefix("Bearer "))
            .map(str::trim);
        if let (Some(given), Some(token)) = (bearer, state.control_token.as_deref()) {
            if parley_core::sip::digest::constant_time_eq(given.as_bytes(), token.as_bytes()) {
                return Ok(Operator);
            }
        }
        let caller = api::Caller::from_request_parts(parts, state).await?;
        caller.admin()?;
        Ok(Operator)
    }
}

/// Lock shared state, poisoned or not: a handler that panicked while holding it (answered 500 by
/// `harden::contain_panics`) must not lock every later request out.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A login guard with the given limits.
pub fn login_guard(config: parley_core::guard::GuardConfig) -> auth::Guard {
    Arc::new(Mutex::new(parley_core::guard::AuthGuard::new(config)))
}

/// The application's routes.
pub fn app(state: AppState) -> Router {
    let (api, openapi) = api::router();
    let openapi = std::sync::Arc::new(openapi);
    Router::new()
        .merge(api)
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = openapi.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .route("/health", get(health))
        .route("/api/v1/status", get(status))
        .route("/api/v1/mailboxes/{ext}/mwi", post(set_lamp))
        .route("/api/v1/trunks/reload", post(reload_trunks))
        .route(
            "/Applications/inbound/{instance}/rest/{area}/{function}",
            any(callisto::handle),
        )
        .merge(portal::routes())
        // Greeting uploads may be large; the handlers refuse more than greetings::UPLOAD_LIMIT, and
        // harden::limit_body keeps every other request to 64 KiB before anything reads it.
        .layer(axum::extract::DefaultBodyLimit::max(
            harden::UPLOAD_BODY_LIMIT,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api::session::refresh,
        ))
        .layer(axum::middleware::from_fn(harden::contain_panics))
        .layer(axum::middleware::from_fn(harden::security_headers))
        .layer(axum::middleware::from_fn(harden::limit_body))
        .with_state(state)
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

async fn status(_: Operator, State(s): State<AppState>) -> Json<Status> {
    Json(snapshot(&s.status))
}

/// Body of `POST /api/v1/mailboxes/{ext}/mwi`.
#[derive(serde::Deserialize)]
struct Lamp {
    on: bool,
}

type ApiError = (StatusCode, Json<serde_json::Value>);

fn api_error(code: StatusCode, message: &str) -> ApiError {
    (code, Json(serde_json::json!({ "error": message })))
}

/// MWI calibrate: switch a mailbox's lamps on or off (administrators and the local command line).
async fn set_lamp(
    _: Operator,
    State(s): State<AppState>,
    Path(ext): Path<String>,
    Json(lamp): Json<Lamp>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if ext.is_empty() || ext.len() > 10 || !ext.bytes().all(|b| b.is_ascii_digit()) {
        return Err(api_error(
            StatusCode::BAD_REQUEST,
            "mailbox must be 2 to 10 digits",
        ));
    }
    let phones = calibrate_lamp(&s, ext, lamp.on)
        .await
        .map_err(|e| api_error(StatusCode::SERVICE_UNAVAILABLE, e))?;
    Ok(Json(serde_json::json!({ "phones": phones })))
}

/// The trunks changed in the store (the command line wrote them): the SIP server reads them now.
async fn reload_trunks(
    _: Operator,
    State(s): State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let control = s
        .control
        .as_ref()
        .ok_or_else(|| api_error(StatusCode::SERVICE_UNAVAILABLE, "no SIP server"))?;
    control
        .send(Control::TrunksChanged)
        .map_err(|_| api_error(StatusCode::SERVICE_UNAVAILABLE, "SIP server stopped"))?;
    Ok(Json(serde_json::json!({ "reloading": true })))
}

/// MWI calibrate: tell every phone of mailbox `ext` that its lamp is on or off (whatever the counts
/// say, until the next change). Returns how many phones were told.
pub(crate) async fn calibrate_lamp(
    s: &AppState,
    ext: String,
    on: bool,
) -> Result<usize, &'static str> {
    let control = s.control.as_ref().ok_or("no SIP server")?;
    let (reply, answer) = oneshot::channel();
    control
        .send(Control::SetLamp {
            mailbox: ext,
            on,
            reply: Box::new(move |n| {
                let _ = reply.send(n);
            }),
        })
        .map_err(|_| "SIP server stopped")?;
    answer.await.map_err(|_| "SIP server stopped")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    #[tokio::test]
    async fn health_answers_ok() {
        let app = app(AppState {
            status: Default::default(),
            control: None,
            control_token: None,
            store: None,
            guard: login_guard(parley_core::guard::GuardConfig {
                max_failures: 5,
                window: std::time::Duration::from_secs(60),
                lockout: std::time::Duration::from_secs(60),
            }),
            voicemail: Default::default(),
            sessions: Default::default(),
            no_answer_secs: 30,
            presence_code: "*80".into(),
            conference: Default::default(),
            time_zone: "UTC".into(),
        });
        let resp = app
            .oneshot(Request::get("/health").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
}
