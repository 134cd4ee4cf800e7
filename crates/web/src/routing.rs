//! Presence and call routes as the JSON API and the portal show and take them, shared by both: a
//! route written plainly (a destination is `handsets` or an extension, the Finally route
//! `voicemail`, `hang-up` or an extension), checked by the core's rules and the store's (the
//! extensions must exist), audited, and in effect for the next call.

use parley_core::routing::{Attempt, CallRoute, Destination, Finally, Presence, Routing};
use parley_store::Privilege;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::{audit, store, ApiError, ApiResult, Caller};
use crate::AppState;

/// A user's presence.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresenceBody {
    /// `in-office`, `at-a-meeting`, `on-vacation`, `on-business-trip`, `at-home`, `away` or
    /// `busy` (the labels, "At A Meeting", are taken too).
    pub presence: String,
    /// As people read it ("At A Meeting"); ignored when sent.
    #[serde(default, skip_deserializing)]
    pub label: String,
}

impl From<Presence> for PresenceBody {
    fn from(p: Presence) -> PresenceBody {
        PresenceBody {
            presence: p.as_str().into(),
            label: p.label().into(),
        }
    }
}

/// One connection attempt.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttemptBody {
    /// What rings at once: `handsets` (the user's own phones) or an extension.
    pub destinations: Vec<String>,
    /// For how long, in seconds (5-300; absent: the system's no-answer time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ring_secs: Option<u32>,
}

/// A call route: connection attempts in order, then the Finally route.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteBody {
    /// Tried in order (at most 8).
    pub attempts: Vec<AttemptBody>,
    /// Where an unanswered call goes: `voicemail` (the default), `hang-up`, or an extension.
    #[serde(default = "voicemail")]
    pub finally: String,
}

fn voicemail() -> String {
    "voicemail".into()
}

impl From<&CallRoute> for RouteBody {
    fn from(r: &CallRoute) -> RouteBody {
        RouteBody {
            attempts: r
                .attempts
                .iter()
                .map(|a| AttemptBody {
                    destinations: a
                        .destinations
                        .iter()
                        .map(|d| match d {
                            Destination::Handsets => "handsets".to_string(),
                            Destination::Extension(e) => e.clone(),
                        })
                        .collect(),
                    ring_secs: a.ring_secs,
                })
                .collect(),
            finally: match &r.finally {
                Finally::Voicemail => "voicemail".into(),
                Finally::HangUp => "hang-up".into(),
                Finally::Extension(e) => e.clone(),
            },
        }
    }
}

impl RouteBody {
    /// The route it describes (its rules are checked by the store).
    pub fn route(&self) -> CallRoute {
        let destination = |d: &str| match d.trim() {
            d if d.eq_ignore_ascii_case("handsets") => Destination::Handsets,
            d => Destination::Extension(d.to_string()),
        };
        CallRoute {
            attempts: self
                .attempts
                .iter()
                .map(|a| Attempt {
                    destinations: a.destinations.iter().map(|d| destination(d)).collect(),
                    ring_secs: a.ring_secs,
                })
                .collect(),
            finally: match self.finally.trim() {
                f if f.eq_ignore_ascii_case("voicemail") => Finally::Voicemail,
                f if f.eq_ignore_ascii_case("hang-up") => Finally::HangUp,
                f => Finally::Extension(f.to_string()),
            },
        }
    }
}

/// A user's routing: the current presence and the route of every presence (the default where the
/// user set none).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoutingOut {
    /// The current presence.
    pub presence: PresenceBody,
    /// The route of each presence, by its name.
    pub routes: std::collections::BTreeMap<String, RouteBody>,
    /// Presences whose route the user set (the others have the default route).
    pub custom: Vec<String>,
}

impl From<&Routing> for RoutingOut {
    fn from(r: &Routing) -> RoutingOut {
        RoutingOut {
            presence: r.presence.into(),
            routes: Presence::ALL
                .into_iter()
                .map(|p| {
                    let route = r.routes.get(&p).cloned().unwrap_or_default();
                    (p.as_str().to_string(), RouteBody::from(&route))
                })
                .collect(),
            custom: r.routes.keys().map(|p| p.as_str().to_string()).collect(),
        }
    }
}

/// A presence by name, or why not.
pub fn presence(s: &str) -> ApiResult<Presence> {
    Presence::parse(s).ok_or_else(|| {
        ApiError::invalid(
            "presence",
            "a presence is in-office, at-a-meeting, on-vacation, on-business-trip, at-home, away or busy",
        )
    })
}

/// A user's routing (the user, or an administrator).
pub async fn routing(s: &AppState, caller: &Caller, ext: &str) -> ApiResult<RoutingOut> {
    caller.owner_or_admin(ext)?;
    exists(s, ext).await?;
    let r = store(s)?
        .routing(ext)
        .await
        .map_err(|e| ApiError::store(e, ""))?;
    Ok(RoutingOut::from(&r))
}

async fn exists(s: &AppState, ext: &str) -> ApiResult<()> {
    match store(s)?.get_user(ext).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(ApiError::not_found(format!(
            "extension {ext} does not exist"
        ))),
        Err(e) => Err(ApiError::store(e, "")),
    }
}

/// Change a user's presence (the user, or an administrator); audited.
pub async fn set_presence(
    s: &AppState,
    caller: &Caller,
    ext: &str,
    p: Presence,
) -> ApiResult<PresenceBody> {
    caller.owner_or_admin(ext)?;
    if !store(s)?
        .set_presence(ext, p)
        .await
        .map_err(|e| ApiError::store(e, "presence"))?
    {
        return Err(ApiError::not_found(format!(
            "extension {ext} does not exist"
        )));
    }
    audit(s, caller, "presence.set", ext, p.as_str()).await;
    Ok(p.into())
}

/// Set (or, with `None`, reset to the default) the route of one presence: the user with the
/// `routes` privilege, or an administrator; audited.
pub async fn set_route(
    s: &AppState,
    caller: &Caller,
    ext: &str,
    p: Presence,
    route: Option<CallRoute>,
) -> ApiResult<RoutingOut> {
    let may = caller.who.has(Privilege::Admin)
        || (caller.who.user == ext && caller.who.has(Privilege::Routes));
    if !may {
        return Err(ApiError::forbidden(
            "changing call routes needs the routes privilege (an administrator grants it)",
        ));
    }
    let detail = match &route {
        Some(r) => serde_json::to_string(&RouteBody::from(r)).unwrap_or_default(),
        None => "default".into(),
    };
    if !store(s)?
        .set_route(ext, p, route)
        .await
        .map_err(|e| ApiError::store(e, "route"))?
    {
        return Err(ApiError::not_found(format!(
            "extension {ext} does not exist"
        )));
    }
    audit(
        s,
        caller,
        "route.set",
        ext,
        &format!("{}: {detail}", p.as_str()),
    )
    .await;
    routing(s, caller, ext).await
}
