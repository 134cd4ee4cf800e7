//! The trunk model shared by the JSON API and the portal's admin page: a trunk as the administrator
//! sees it (its stored settings, whether a password is set — never the password — and its live state
//! from the SIP server), the changes either face sends, checked by the store's rules, and adding,
//! changing and removing trunks and the company's numbers (DIDs), each audited and told to the SIP
//! server at once. The `trunks` table stays the source of truth, as for `parley trunk`.

use std::net::IpAddr;

use parley_core::sip::digest::ClientSecret;
use parley_core::switch::status::TrunkView;
use parley_core::switch::Control;
use parley_core::trunk::{Did, DidTarget};
use parley_store::{Trunk, TrunkChanges};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::{audit, store, ApiError, ApiResult, Caller};
use crate::AppState;

/// A trunk as an administrator sees it. The password is write-only: only whether one is set.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrunkOut {
    /// Its name.
    pub name: String,
    /// `registering` or `peer`.
    pub kind: String,
    /// The carrier's host.
    pub host: String,
    /// The carrier's port.
    pub port: u16,
    /// `udp` or `tcp`.
    pub transport: String,
    /// The outbound proxy (`host` or `host:port`).
    pub proxy: Option<String>,
    /// Parley registers to the carrier.
    pub register: bool,
    /// The account at the carrier.
    pub username: Option<String>,
    /// The digest username when it differs.
    pub auth_username: Option<String>,
    /// Whether a password is set (the password itself is never shown).
    pub password_set: bool,
    /// Registration expiry asked for, in seconds.
    pub expires: u32,
    /// Addresses an IP peer's calls may come from.
    pub peers: Vec<String>,
    /// Disabled trunks neither register nor carry calls.
    pub enabled: bool,
    /// Seconds between OPTIONS keep-alives (0: none).
    pub keepalive: u32,
    /// `e164`, `digits` or `national`.
    pub number_format: String,
    /// `from`, `pai` or `rpid`.
    pub caller_id: String,
    /// The most calls at once (0: no limit of its own).
    pub max_calls: u32,
    /// Codecs it may be offered (empty: any).
    pub codecs: Vec<String>,
    /// Number patterns (E.164 prefixes; empty: every number).
    pub patterns: Vec<String>,
    /// Its state in the running SIP server (`registered`, `failed`, `peer`, `down`, …); none when
    /// the server does not run it (disabled, or not read yet).
    pub state: Option<String>,
    /// Why it failed or is down.
    pub reason: Option<String>,
    /// Calls through it now.
    pub calls: usize,
    /// Seconds until its registration lapses.
    pub expires_in: Option<u64>,
}

impl TrunkOut {
    fn of(t: Trunk, live: Option<&TrunkView>) -> TrunkOut {
        TrunkOut {
            kind: t.kind().into(),
            name: t.name,
            host: t.host,
            port: t.port,
            transport: t.transport,
            proxy: t.proxy,
            register: t.register,
            username: t.username,
            auth_username: t.auth_username,
            password_set: t.password.is_some(),
            expires: t.expires,
            peers: t.peers.iter().map(IpAddr::to_string).collect(),
            enabled: t.enabled,
            keepalive: t.keepalive,
            number_format: t.number_format.as_str().into(),
            caller_id: t.caller_id.as_str().into(),
            max_calls: t.max_calls,
            codecs: t
                .codecs
                .iter()
                .map(|c| c.sdp_name().to_ascii_lowercase())
                .collect(),
            patterns: t.patterns.iter().map(|p| p.as_str().to_string()).collect(),
            state: live.map(|v| v.state.clone()),
            reason: live.and_then(|v| v.reason.clone()),
            calls: live.map_or(0, |v| v.calls),
            expires_in: live.and_then(|v| v.expires_in),
        }
    }
}

/// A trunk's settings as the API or a form sends them: only what is given changes. Text that may
/// be cleared (`proxy`, `username`, `auth_username`, `password`) is cleared by an empty string.
/// (No `Debug`: it holds the password as typed.)
#[derive(Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrunkInput {
    /// Its name (when adding; a trunk cannot be renamed).
    pub name: Option<String>,
    /// The carrier's host name or IP address (required when adding).
    pub host: Option<String>,
    /// The carrier's port (default 5060).
    pub port: Option<u16>,
    /// `udp` (default) or `tcp`.
    pub transport: Option<String>,
    /// An outbound proxy (`host` or `host:port`); empty clears.
    pub proxy: Option<String>,
    /// Register to the carrier (needs a username and a password); default: when a username is
    /// given.
    pub register: Option<bool>,
    /// The account at the carrier; empty clears.
    pub username: Option<String>,
    /// The digest username, when it differs; empty clears.
    pub auth_username: Option<String>,
    /// The password (write-only: never shown again); empty clears.
    pub password: Option<String>,
    /// Registration expiry asked for, in seconds (60-86400).
    pub expires: Option<u32>,
    /// Addresses an IP peer's calls may come from (replaces the list).
    pub peers: Option<Vec<String>>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// Seconds between OPTIONS keep-alives (2-3600; 0: none).
    pub keepalive: Option<u32>,
    /// `e164`, `digits` or `national`.
    pub number_format: Option<String>,
    /// `from`, `pai` or `rpid`.
    pub caller_id: Option<String>,
    /// The most calls at once (0: no limit of its own).
    pub max_calls: Option<u32>,
    /// `pcmu`, `pcma` (empty: any).
    pub codecs: Option<Vec<String>>,
    /// E.164 prefixes (`+1585`; empty: every number).
    pub patterns: Option<Vec<String>>,
}

impl TrunkInput {
    /// The changes, each checked as far as it can be alone (the whole trunk is checked by the
    /// store); an error names its field.
    fn changes(&self) -> ApiResult<TrunkChanges> {
        let clearable = |v: &Option<String>| {
            v.as_ref()
                .map(|s| Some(s.trim().to_string()).filter(|s| !s.is_empty()))
        };
        let peers = match &self.peers {
            None => None,
            Some(list) => Some(
                list.iter()
                    .map(|p| p.trim())
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        p.parse::<IpAddr>().map_err(|_| {
                            ApiError::invalid(
                                "peers",
                                format!(
                                    "{:?} is not an IP address",
                                    parley_core::text::printable(p)
                                ),
                            )
                        })
                    })
                    .collect::<ApiResult<Vec<_>>>()?,
            ),
        };
        let field = |name: &'static str| move |e| ApiError::store(e, name);
        Ok(TrunkChanges {
            host: self.host.as_ref().map(|h| h.trim().to_string()),
            port: self.port,
            transport: self
                .transport
                .as_ref()
                .map(|t| t.trim().to_ascii_lowercase()),
            proxy: clearable(&self.proxy),
            register: self.register,
            username: clearable(&self.username),
            auth_username: clearable(&self.auth_username),
            password: self
                .password
                .as_ref()
                .map(|p| (!p.is_empty()).then(|| ClientSecret::new(p))),
            expires: self.expires,
            peers,
            enabled: self.enabled,
            keepalive: self.keepalive,
            number_format: self
                .number_format
                .as_deref()
                .map(parley_store::parse_number_format)
                .transpose()
                .map_err(field("number_format"))?,
            caller_id: self
                .caller_id
                .as_deref()
                .map(parley_store::parse_caller_id)
                .transpose()
                .map_err(field("caller_id"))?,
            max_calls: self.max_calls,
            codecs: self
                .codecs
                .as_ref()
                .map(|c| parley_store::parse_codecs(&c.join(",")))
                .transpose()
                .map_err(field("codecs"))?,
            patterns: self
                .patterns
                .as_ref()
                .map(|p| parley_store::parse_patterns(&p.join(",")))
                .transpose()
                .map_err(field("patterns"))?,
        })
    }
}

/// Tell the SIP server the trunks or numbers changed (without one, every node reads them within a
/// minute).
fn tell(s: &AppState) {
    if let Some(c) = &s.control {
        let _ = c.send(Control::TrunksChanged);
    }
}

/// Every trunk, by name, with its live state.
pub async fn list(s: &AppState) -> ApiResult<Vec<TrunkOut>> {
    let stored = store(s)?
        .trunks()
        .await
        .map_err(|e| ApiError::store(e, ""))?;
    let live = crate::snapshot(&s.status).trunks;
    Ok(stored
        .into_iter()
        .map(|t| {
            let v = live.iter().find(|v| v.name == t.name);
            TrunkOut::of(t, v)
        })
        .collect())
}

/// One trunk, with its live state.
pub async fn get(s: &AppState, name: &str) -> ApiResult<TrunkOut> {
    list(s)
        .await?
        .into_iter()
        .find(|t| t.name == name)
        .ok_or_else(|| ApiError::not_found(format!("no trunk named {name}")))
}

/// Add a trunk (`input.name` and `input.host` are required).
pub async fn add(s: &AppState, caller: &Caller, input: &TrunkInput) -> ApiResult<TrunkOut> {
    let name = input
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::invalid("name", "a trunk needs a name"))?;
    let host = input
        .host
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or_else(|| ApiError::invalid("host", "a trunk needs the carrier's host"))?;
    let st = store(s)?;
    if st
        .trunk(name)
        .await
        .map_err(|e| ApiError::store(e, ""))?
        .is_some()
    {
        return Err(ApiError::conflict(format!(
            "a trunk named {name} exists already"
        )));
    }
    let mut changes = input.changes()?;
    if changes.register.is_none() {
        changes.register = Some(matches!(changes.username, Some(Some(_))));
    }
    let mut t = Trunk::peer(name, host);
    changes.apply(&mut t);
    st.add_trunk(&t)
        .await
        .map_err(|e| ApiError::store(e, "body"))?;
    audit(s, caller, "trunk.add", name, &t.describe()).await;
    tell(s);
    get(s, name).await
}

/// Change a trunk; only what `input` gives changes.
pub async fn update(
    s: &AppState,
    caller: &Caller,
    name: &str,
    input: &TrunkInput,
) -> ApiResult<TrunkOut> {
    if input.name.as_deref().is_some_and(|n| n != name) {
        return Err(ApiError::invalid("name", "a trunk cannot be renamed"));
    }
    let changes = input.changes()?;
    let password_changed = changes.password.is_some();
    let st = store(s)?;
    if !st
        .update_trunk(name, changes)
        .await
        .map_err(|e| ApiError::store(e, "body"))?
    {
        return Err(ApiError::not_found(format!("no trunk named {name}")));
    }
    if let Some(t) = st.trunk(name).await.map_err(|e| ApiError::store(e, ""))? {
        let mut detail = t.describe();
        if password_changed {
            detail.push_str(", password changed");
        }
        audit(s, caller, "trunk.set", name, &detail).await;
    }
    tell(s);
    get(s, name).await
}

/// Remove a trunk (the SIP server removes its registration at the carrier).
pub async fn remove(s: &AppState, caller: &Caller, name: &str) -> ApiResult<()> {
    if !store(s)?
        .remove_trunk(name)
        .await
        .map_err(|e| ApiError::store(e, ""))?
    {
        return Err(ApiError::not_found(format!("no trunk named {name}")));
    }
    audit(s, caller, "trunk.remove", name, "").await;
    tell(s);
    Ok(())
}

/// One of the company's numbers and where its calls go.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DidOut {
    /// The number, in E.164.
    pub number: String,
    /// Ring this extension (its phones, then its voicemail).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    /// Or straight to this mailbox's greeting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<String>,
}

impl From<Did> for DidOut {
    fn from(d: Did) -> DidOut {
        let (extension, mailbox) = match d.target {
            DidTarget::Extension(e) => (Some(e), None),
            DidTarget::Mailbox(m) => (None, Some(m)),
        };
        DidOut {
            number: d.number,
            extension,
            mailbox,
        }
    }
}

/// Where a DID goes: an extension or a mailbox.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DidInput {
    /// Ring this extension.
    pub extension: Option<String>,
    /// Or straight to this mailbox's greeting.
    pub mailbox: Option<String>,
}

/// Every DID, by number.
pub async fn dids(s: &AppState) -> ApiResult<Vec<DidOut>> {
    Ok(store(s)?
        .dids()
        .await
        .map_err(|e| ApiError::store(e, ""))?
        .into_iter()
        .map(DidOut::from)
        .collect())
}

/// Point `number` at an extension or a mailbox.
pub async fn set_did(
    s: &AppState,
    caller: &Caller,
    number: &str,
    input: &DidInput,
) -> ApiResult<DidOut> {
    let nonempty = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let target = match (nonempty(&input.extension), nonempty(&input.mailbox)) {
        (Some(e), None) => DidTarget::Extension(e),
        (None, Some(m)) => DidTarget::Mailbox(m),
        _ => {
            return Err(ApiError::invalid(
                "body",
                "give an extension or a mailbox (one of them)",
            ))
        }
    };
    store(s)?
        .set_did(number, &target)
        .await
        .map_err(|e| ApiError::store(e, "number"))?;
    let out = DidOut::from(Did {
        number: number.to_string(),
        target,
    });
    let what = match (&out.extension, &out.mailbox) {
        (Some(e), _) => format!("extension {e}"),
        (_, Some(m)) => format!("mailbox {m}"),
        _ => String::new(),
    };
    audit(s, caller, "did.set", number, &what).await;
    tell(s);
    Ok(out)
}

/// Remove a DID.
pub async fn remove_did(s: &AppState, caller: &Caller, number: &str) -> ApiResult<()> {
    if !store(s)?
        .remove_did(number)
        .await
        .map_err(|e| ApiError::store(e, ""))?
    {
        return Err(ApiError::not_found(format!("no number {number}")));
    }
    audit(s, caller, "did.remove", number, "").await;
    tell(s);
    Ok(())
}
