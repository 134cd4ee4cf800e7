//! HTTP authentication for programs: Basic credentials (extension and password), checked against the
//! store's argon2 hash off the async runtime, with failed logins rate-limited per account and per source
//! address (the same `AuthGuard` as SIP digest). Never logs a password.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use parley_core::guard::{AuthGuard, Lockout, Refusal};
use parley_core::text::Printable;
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

/// A fingerprint of a stored password hash: sessions remember it, so that a password changed anywhere
/// ends them.
pub fn credential(hash: &str) -> String {
    crate::api::token_hash(hash)
}

/// Check an extension and password (rate-limited per account and per source address).
pub async fn password(
    store: &Store,
    guard: &Guard,
    user: &str,
    password: &str,
    source: IpAddr,
) -> Result<Caller, AuthFailure> {
    password_login(store, guard, user, password, source)
        .await
        .map(|(c, _)| c)
}

/// Check an extension and password (rate-limited per account and per source address); also returns
/// the [`credential`] of the password checked. The attempt is counted before the slow argon2 check
/// starts, so parallel guesses cannot outrun the lockout, and an attempt whose request is dropped
/// half-way still ends its reservation.
pub async fn password_login(
    store: &Store,
    guard: &Guard,
    user: &str,
    password: &str,
    source: IpAddr,
) -> Result<(Caller, String), AuthFailure> {
    let user = parley_core::guard::account_key(user);
    let password = password.to_string();
    if crate::lock(guard).is_locked(now(), source, Some(&user), false) {
        info!(user = %Printable(&user), %source, "HTTP login refused: locked out after repeated failures");
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
    // A password checked right before (a program making several requests at once with Basic
    // credentials) is taken again without another argon2 check or reservation.
    if let Some((hash, privileges)) = &record {
        if recently_verified(&user, &password, hash) {
            return Ok((
                Caller {
                    user,
                    privileges: privileges.clone(),
                },
                credential(hash),
            ));
        }
    }
    // Only real accounts are counted by name: made-up names cannot fill the table.
    let account = record.as_ref().map(|_| user.clone());
    let mut attempt = Attempt::begin(guard.clone(), source, account).map_err(|r| {
        info!(user = %Printable(&user), %source, refusal = ?r, "HTTP login refused: locked out after repeated failures");
        AuthFailure::Locked
    })?;
    let verified = match record {
        Some((hash, privileges)) => {
            let fingerprint = credential(&hash);
            let key = verified_key(&user, &password, &hash);
            let ok =
                tokio::task::spawn_blocking(move || parley_store::verify_secret(&password, &hash))
                    .await
                    .unwrap_or(false);
            if ok {
                remember_verified(key);
            }
            ok.then_some((privileges, fingerprint))
        }
        None => None,
    };
    let locks = attempt.end(verified.is_some());
    match verified {
        Some((privileges, fingerprint)) => Ok((Caller { user, privileges }, fingerprint)),
        None => {
            info!(user = %Printable(&user), %source, "HTTP login failed");
            for lock in locks {
                match lock {
                    Lockout::Address(a, d) => {
                        warn!(address = %a, secs = d.as_secs(), "HTTP logins from an address locked")
                    }
                    Lockout::Account(u, d) => {
                        warn!(user = %Printable(&u), secs = d.as_secs(), "HTTP logins to an account locked")
                    }
                }
            }
            Err(AuthFailure::Unauthorized)
        }
    }
}

/// How long a checked password is taken again without argon2.
const VERIFIED_FOR: std::time::Duration = std::time::Duration::from_secs(60);
/// Most checked passwords remembered.
const VERIFIED_LIMIT: usize = 4096;

/// Passwords checked right before, by a hash of the account, the password and the stored hash (a
/// changed password is never matched), each until it lapses.
static VERIFIED: std::sync::LazyLock<Mutex<std::collections::HashMap<String, Instant>>> =
    std::sync::LazyLock::new(Default::default);

fn verified_key(user: &str, password: &str, hash: &str) -> String {
    crate::api::token_hash(&format!("{user}\u{0}{password}\u{0}{hash}"))
}

fn recently_verified(user: &str, password: &str, hash: &str) -> bool {
    let key = verified_key(user, password, hash);
    crate::lock(&VERIFIED)
        .get(&key)
        .is_some_and(|until| now() < *until)
}

fn remember_verified(key: String) {
    let mut map = crate::lock(&VERIFIED);
    let t = now();
    if map.len() >= VERIFIED_LIMIT {
        map.retain(|_, until| t < *until);
        if map.len() >= VERIFIED_LIMIT {
            map.clear();
        }
    }
    map.insert(key, t + VERIFIED_FOR);
}

/// One reserved login attempt; ending it is certain, even when the request is dropped (a dropped
/// attempt counts as a failure: the guess may have been learned from the timing).
struct Attempt {
    guard: Guard,
    source: IpAddr,
    account: Option<String>,
    open: bool,
}

impl Attempt {
    fn begin(guard: Guard, source: IpAddr, account: Option<String>) -> Result<Attempt, Refusal> {
        crate::lock(&guard).begin(now(), source, account.as_deref())?;
        Ok(Attempt {
            guard,
            source,
            account,
            open: true,
        })
    }

    fn end(&mut self, success: bool) -> Vec<Lockout> {
        if !std::mem::take(&mut self.open) {
            return Vec::new();
        }
        let mut g = crate::lock(&self.guard);
        let t = now();
        g.prune(t);
        g.end(t, self.source, self.account.as_deref(), success)
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        self.end(false);
    }
}
