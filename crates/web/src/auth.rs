//! HTTP authentication for programs: Basic credentials (extension and password), checked against the
//! store's argon2 hash off the async runtime, with failed logins rate-limited per account and per source
//! address (the same `AuthGuard` as SIP digest). Never logs a password.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use parley_core::guard::{AuthGuard, Lockout};
use parley_store::{Privilege, Store};
use tracing::{info, warn};

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Extension.
    pub user: String,
    /// Privileges.
    pub privileges: Vec<Privilege>,
}

impl Caller {
    /// Whether the caller holds `p` (admins hold every privilege).
    pub fn has(&self, p: Privilege) -> bool {
        self.privileges.contains(&Privilege::Admin) || self.privileges.contains(&p)
    }
}

/// Why a request is not authenticated.
#[derive(Debug)]
pub enum AuthFailure {
    /// No or bad credentials: 401 with a Basic challenge.
    Unauthorized,
    /// Locked after repeated failures: 429.
    Locked,
    /// The store failed: 500.
    Internal,
}

impl IntoResponse for AuthFailure {
    fn into_response(self) -> Response {
        match self {
            AuthFailure::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                [(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"Parley\", charset=\"UTF-8\""),
                )],
                "authentication required: HTTP Basic with extension and password\n",
            )
                .into_response(),
            AuthFailure::Locked => (
                StatusCode::TOO_MANY_REQUESTS,
                "too many failed logins: try again later\n",
            )
                .into_response(),
            AuthFailure::Internal => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
            }
        }
    }
}

/// The login guard shared by the HTTP handlers.
pub type Guard = Arc<Mutex<AuthGuard>>;

#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Authenticate a request by HTTP Basic.
pub async fn basic(
    store: &Store,
    guard: &Guard,
    headers: &HeaderMap,
    source: IpAddr,
) -> Result<Caller, AuthFailure> {
    let Some((user, password)) = basic_credentials(headers) else {
        return Err(AuthFailure::Unauthorized);
    };
    self::password(store, guard, &user, &password, source).await
}

/// Check an extension and password (rate-limited per account and per source address).
pub async fn password(
    store: &Store,
    guard: &Guard,
    user: &str,
    password: &str,
    source: IpAddr,
) -> Result<Caller, AuthFailure> {
    let (user, password) = (user.to_string(), password.to_string());
    let locked = guard
        .lock()
        .map(|g| g.is_locked(now(), source, Some(&user), false))
        .unwrap_or(false);
    if locked {
        info!(user = %user, %source, "HTTP login refused: locked out after repeated failures");
        return Err(AuthFailure::Locked);
    }
    let record = if parley_store::validate_extension(&user).is_ok() {
        store
            .login_record(&user)
            .await
            .map_err(|_| AuthFailure::Internal)?
    } else {
        None
    };
    let verified = match record {
        Some((hash, privileges)) => {
            let ok =
                tokio::task::spawn_blocking(move || parley_store::verify_secret(&password, &hash))
                    .await
                    .unwrap_or(false);
            ok.then_some(privileges)
        }
        None => None,
    };
    let Ok(mut g) = guard.lock() else {
        return Err(AuthFailure::Internal);
    };
    match verified {
        Some(privileges) => {
            g.record_success(source);
            Ok(Caller { user, privileges })
        }
        None => {
            info!(user = %user, %source, "HTTP login failed");
            let t = now();
            g.prune(t);
            for lock in g.record_failure(t, source, &user) {
                match lock {
                    Lockout::Address(a, d) => {
                        warn!(address = %a, secs = d.as_secs(), "HTTP logins from an address locked")
                    }
                    Lockout::Account(u, d) => {
                        warn!(user = %u, secs = d.as_secs(), "HTTP logins to an account locked")
                    }
                }
            }
            Err(AuthFailure::Unauthorized)
        }
    }
}
