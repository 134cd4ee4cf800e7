//! The shell's side of trunks: read them and the company's numbers (DIDs) from the store (their
//! source of truth) and resolve where each trunk's requests go, off the signalling task; the switch
//! gets the result whole
//! ([`parley_core::switch::Switch::set_trunks`]). Read at start, when told
//! ([`parley_core::switch::Control::TrunksChanged`]), and every minute (so that a change made on
//! another node, or a host name that resolves differently, is picked up).

use std::net::SocketAddr;
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

/// The enabled trunks, resolved, and the company's numbers.
pub(super) async fn load(store: &Store) -> Result<(Vec<TrunkConfig>, Vec<Did>), StoreError> {
    let dids = store.dids().await?;
    let mut out = Vec::new();
    for t in store.trunks().await?.into_iter().filter(|t| t.enabled) {
        match TrunkName::new(&t.name) {
            Ok(name) => out.push(config(name, t).await),
            Err(e) => {
                warn!(trunk = %parley_core::text::Printable(&t.name), error = %e, "a stored trunk is skipped")
            }
        }
    }
    Ok((out, dids))
}

async fn config(name: TrunkName, t: Trunk) -> TrunkConfig {
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
    let target = resolve(&host, port)
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
        host: t.host,
        port: t.port,
        target,
        login,
        auth,
        peers: t.peers,
    }
}

async fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    if port == 0 {
        return Err("the outbound proxy is not valid".into());
    }
    if let Ok(ip) = host.parse() {
        return Ok(SocketAddr::new(ip, port));
    }
    match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(mut addrs)) => addrs.next().ok_or_else(|| format!("{host} has no address")),
        Ok(Err(e)) => Err(format!("cannot resolve {host}: {e}")),
        Err(_) => Err(format!("cannot resolve {host}: no answer")),
    }
}
