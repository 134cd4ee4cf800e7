//! Parley's HTTP surface: `/health` and `/api/v1/status` (registrations and calls in progress).
//! Reads the SIP server's status snapshot; never touches SIP or media itself.
#![warn(missing_docs)]

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
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
}

/// The application's routes.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/api/v1/status", get(status))
        .route("/api/v1/mailboxes/{ext}/mwi", post(set_lamp))
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
    let Some(control) = s.control.as_ref() else {
        return Err(api_error(StatusCode::SERVICE_UNAVAILABLE, "no SIP server"));
    };
    let (reply, answer) = oneshot::channel();
    control
        .send(Control::SetLamp {
            mailbox: ext,
            on: lamp.on,
            reply,
        })
        .map_err(|_| api_error(StatusCode::SERVICE_UNAVAILABLE, "SIP server stopped"))?;
    let phones = answer
        .await
        .map_err(|_| api_error(StatusCode::SERVICE_UNAVAILABLE, "SIP server stopped"))?;
    Ok(Json(serde_json::json!({ "phones": phones })))
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
        });
        let resp = app
            .oneshot(Request::get("/health").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
}
