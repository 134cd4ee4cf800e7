//! Parley's HTTP surface: `/health`, `/api/v1/status` (registrations and calls in progress), MWI
//! calibrate, and the Callisto-compatible ManagerAssistant API (`callisto.rs`, HTTP Basic via `auth.rs`).
//! Never touches SIP or media itself: the SIP server is reached through `Control` messages.
#![warn(missing_docs)]

pub mod api;
pub mod auth;
mod callisto;
pub mod greetings;
mod portal;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::routing::{any, get, post};
use axum::{Json, Router};
use parley_sip::{snapshot, Control, Status, StatusHandle};
use tokio::sync::{mpsc, oneshot};

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    /// The SIP server's live status.
    pub status: StatusHandle,
    /// Requests to the SIP server (absent in tests without one).
    pub control: Option<mpsc::UnboundedSender<Control>>,
    /// The store (absent in tests without one).
    pub store: Option<parley_store::Store>,
    /// Failed HTTP logins, per account and per source address.
    pub guard: auth::Guard,
    /// The voicemail settings (PIN rules, greeting limits, dial codes, operator) the SIP server runs with.
    pub voicemail: parley_sip::VmSettings,
    /// Logged-in browsers.
    pub sessions: api::session::Sessions,
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
        .route(
            "/Applications/inbound/{instance}/rest/{area}/{function}",
            any(callisto::handle),
        )
        .merge(portal::routes())
        // Greeting uploads may be large; the handlers refuse more than greetings::UPLOAD_LIMIT.
        .layer(axum::extract::DefaultBodyLimit::max(
            greetings::UPLOAD_LIMIT + 64 * 1024,
        ))
        .with_state(state)
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

async fn status(State(s): State<AppState>) -> Json<Status> {
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

/// MWI calibrate: switch a mailbox's lamps on or off. Until accounts and API authentication arrive,
/// only callers on this machine may use it.
async fn set_lamp(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(ext): Path<String>,
    Json(lamp): Json<Lamp>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if !peer.ip().is_loopback() {
        return Err(api_error(
            StatusCode::FORBIDDEN,
            "only allowed from this machine until API authentication exists",
        ));
    }
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
            reply,
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
            store: None,
            guard: login_guard(parley_core::guard::GuardConfig {
                max_failures: 5,
                window: std::time::Duration::from_secs(60),
                lockout: std::time::Duration::from_secs(60),
            }),
            voicemail: Default::default(),
            sessions: Default::default(),
        });
        let resp = app
            .oneshot(Request::get("/health").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
}
