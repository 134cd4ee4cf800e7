//! The shell's side of trunks: read them and the company's numbers (DIDs) from the store (their
//! source of truth) and resolve where each trunk's requests go, off the signalling task; the switch
//! gets the result whole
//! ([`parley_core::switch::Switch::set_trunks`]). Read at start, when told
//! ([`parley_core::switch::Control::TrunksChanged`]), and every minute (so that a change made on
//! another node, or a host name that resolves differently, is picked up).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use parley_core::sip::digest::ClientSecret;
use parley_core::target::{Target, Transport};
use parley_core::trunk::{parse_host_port, Did, TrunkConfig, TrunkLogin, TrunkName};
use parley_store::{Store, StoreError, Trunk};
use tracing::warn;

/// How often the trunks are read again.
pub(super) const RELOAD_EVERY: Duration = Duration::from_secs(60);
/// The longest wait for a host name to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The address each host resolved to last: kept while it is still among the answers (round-robin
/// DNS does not move a registration every minute), and used when a lookup fails.
pub(super) type Resolved = Arc<Mutex<HashMap<(String, u16), SocketAddr>>>;

/// The enabled trunks, resolved, and the company's numbers.
pub(super) async fn load(
    store: &Store,
    resolved: &Resolved,
) -> Result<(Vec<TrunkConfig>, Vec<Did>), StoreError> {
    let dids = store.dids().await?;
    let mut out = Vec::new();
    for t in store.trunks().await?.into_iter().filter(|t| t.enabled) {
        // A row written by hand or by an older build is checked as the command line checks it.
        let name = t
            .check()
            .and_then(|()| TrunkName::new(&t.name).map_err(|e| StoreError::Invalid(e.to_string())));
        match name {
            Ok(name) => out.push(config(name, t, resolved).await),
            Err(e) => {
                warn!(trunk = %parley_core::text::Printable(&t.name), error = %e, "a stored trunk is skipped")
            }
        }
    }
    Ok((out, dids))
}

async fn config(name: TrunkName, t: Trunk, resolved: &Resolved) -> TrunkConfig {
    let transport = if t.transport == "tcp" {
        Transport::Tcp
    } else {
        Transport::Udp
    };
    let (host, port) = match t.proxy.as_deref().map(parse_host_port) {
        Some(Ok((h, p))) => (h, p.unwrap_or(5060)),
        Some(Err(e)) => (String::new(), {
            warn!(trunk = %name, error = %e, "the outbound proxy is not valid");
            0
        }),
        None => (t.host.clone(), t.port),
    };
    let target = resolve(&host, port, resolved)
        .await
        .map(|addr| Target { transport, addr });
    let login = t.register.then(|| TrunkLogin {
        username: t.username.clone().unwrap_or_default(),
        auth_username: t.auth_username.clone(),
        secret: t.password.clone().unwrap_or_else(|| ClientSecret::new("")),
        expires: Duration::from_secs(t.expires.into()),
    });
    let auth = match (
        t.auth_username.clone().or(t.username.clone()),
        t.password.clone(),
    ) {
        (Some(user), Some(secret)) => Some((user, secret)),
        _ => None,
    };
    TrunkConfig {
        name,
        options: t.options(),
        host: t.host,
        port: t.port,
        target,
        login,
        auth,
        peers: t.peers,
    }
}

async fn resolve(host: &str, port: u16, resolved: &Resolved) -> Result<SocketAddr, String> {
    if port == 0 {
        return Err("the outbound proxy is not valid".into());
    }
    if let Ok(ip) = host.parse() {
        return Ok(SocketAddr::new(ip, port));
    }
    let key = (host.to_string(), port);
    let last = resolved
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&key)
        .copied();
    let answers: Result<Vec<SocketAddr>, String> =
        match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port))).await {
            Ok(Ok(addrs)) => Ok(addrs.collect()),
            Ok(Err(e)) => Err(format!("cannot resolve {host}: {e}")),
            Err(_) => Err(format!("cannot resolve {host}: no answer")),
        };
    let chosen = match (answers, last) {
        (Ok(a), Some(l)) if a.contains(&l) => l,
        (Ok(a), _) if !a.is_empty() => a[0],
        (Ok(_), _) => return Err(format!("{host} has no address")),
        (Err(e), Some(l)) => {
            warn!(%host, error = %e, address = %l, "a trunk's host did not resolve; its last address is kept");
            l
        }
        (Err(e), None) => return Err(e),
    };
    resolved
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(key, chosen);
    Ok(chosen)
}
