//! Presence and call routes as the JSON API and the portal show and take them, shared by both: a
//! route written plainly (a destination is `handsets` or an extension, the Finally route
//! `voicemail`, `hang-up` or an extension), checked by the core's rules and the store's (the
//! extensions must exist), audited, and in effect for the next call.

use parley_core::routing::{
    Attempt, CallRoute, CallerMatch, CallerRoute, Destination, Finally, ForwardTo, Forwarding,
    Presence, Routing,
};
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
    /// What rings at once: `handsets` (the user's own phones), an extension, or one number outside
    /// in E.164 (`+15855550199`, Follow-Me: the person answering presses 1 to take the call).
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
    /// Where an unanswered call goes: `voicemail` (the default), `hang-up`, an extension, a
    /// number outside in E.164 (`+15855550123`; the user's dialling class applies), or
    /// `voicemail-transfer:` and an extension or number (voicemail, whose greeting offers `0` to
    /// be transferred there instead).
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
                            Destination::Extension(e) | Destination::Number(e) => e.clone(),
                        })
                        .collect(),
                    ring_secs: a.ring_secs,
                })
                .collect(),
            finally: match &r.finally {
                Finally::Voicemail => "voicemail".into(),
                Finally::HangUp => "hang-up".into(),
                Finally::Extension(e) | Finally::Number(e) => e.clone(),
                Finally::VoicemailTransfer(t) => format!("{VOICEMAIL_TRANSFER}{t}"),
            },
        }
    }
}

impl RouteBody {
    /// The route it describes (its rules are checked by the store).
    pub fn route(&self) -> CallRoute {
        let destination = Destination::to;
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
                f => match after_prefix(f, VOICEMAIL_TRANSFER) {
                    Some(t) => Finally::VoicemailTransfer(t),
                    None => Finally::to(f),
                },
            },
        }
    }
}

/// A route for some callers only: `external` (a caller number pattern, digits with `*` for any
/// digits: `5854213850`, `585*`, `*`) or `internal` (an extension whose phones call), then the
/// route.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallerRouteBody {
    /// Callers from outside whose number matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<String>,
    /// Or calls from this extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal: Option<String>,
    /// Tried in order.
    pub attempts: Vec<AttemptBody>,
    /// Where an unanswered call goes: `voicemail` (the default), `hang-up`, or an extension.
    #[serde(default = "voicemail")]
    pub finally: String,
}

impl From<&CallerRoute> for CallerRouteBody {
    fn from(c: &CallerRoute) -> CallerRouteBody {
        let r = RouteBody::from(&c.route);
        let (external, internal) = match &c.caller {
            CallerMatch::External(p) => (Some(p.clone()), None),
            CallerMatch::Internal(e) => (None, Some(e.clone())),
        };
        CallerRouteBody {
            external,
            internal,
            attempts: r.attempts,
            finally: r.finally,
        }
    }
}

impl CallerRouteBody {
    /// The Caller-ID route it describes.
    pub fn caller_route(&self) -> ApiResult<CallerRoute> {
        let caller = match (&self.external, &self.internal) {
            (Some(p), None) => CallerMatch::External(p.trim().to_string()),
            (None, Some(e)) => CallerMatch::Internal(e.trim().to_string()),
            _ => {
                return Err(ApiError::invalid(
                    "caller",
                    "a Caller-ID route is for external (a number pattern) or internal (an extension) callers: one of them",
                ))
            }
        };
        let route = RouteBody {
            attempts: self.attempts.clone(),
            finally: self.finally.clone(),
        }
        .route();
        Ok(CallerRoute { caller, route })
    }
}

/// A user's routing: the current presence and the route of every presence (the default where the
/// user set none), with the On-Busy and Caller-ID routes set.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoutingOut {
    /// The current presence.
    pub presence: PresenceBody,
    /// The route of each presence, by its name.
    pub routes: std::collections::BTreeMap<String, RouteBody>,
    /// Presences whose route the user set (the others have the default route).
    pub custom: Vec<String>,
    /// On-Busy routes, by presence (a presence without one: a busy user's calls follow its route).
    pub on_busy: std::collections::BTreeMap<String, RouteBody>,
    /// Caller-ID routes, by presence, in the order they are tried.
    pub callers: std::collections::BTreeMap<String, Vec<CallerRouteBody>>,
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
            on_busy: r
                .on_busy
                .iter()
                .map(|(p, c)| (p.as_str().to_string(), RouteBody::from(c)))
                .collect(),
            callers: r
                .callers
                .iter()
                .map(|(p, list)| {
                    (
                        p.as_str().to_string(),
                        list.iter().map(CallerRouteBody::from).collect(),
                    )
                })
                .collect(),
        }
    }
}

/// Callisto's forwarding settings (Message settings, seed 000) of the current presence: for each
/// call-diversion state `no-forwarding`, `voicemail`, an extension or a number outside in E.164
/// ("To Number"), `voicemail-transfer:` and an extension or number ("Voicemail with Transfer": the
/// greeting offers 0 to be transferred there), or `mobile-connect:` and a number outside ("Mobile
/// Connect": the person answering hears the caller's number and presses 1 to take the call; not
/// taken: voicemail).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForwardingBody {
    /// Unconditional: every call.
    pub unconditional: String,
    /// Busy: while the user is on a call.
    pub busy: String,
    /// No Answer: when the phones rang out.
    pub no_answer: String,
    /// "Forward after N seconds" (No Answer only; 5-300; absent: the system's no-answer time).
    #[serde(default)]
    pub after_secs: Option<u32>,
    /// The routes hold more than these settings say (set in My Extension); saving replaces them.
    /// Ignored when sent.
    #[serde(default, skip_deserializing)]
    pub custom: bool,
}

fn forward_text(f: &ForwardTo) -> String {
    match f {
        ForwardTo::NoForwarding => "no-forwarding".into(),
        ForwardTo::Voicemail => "voicemail".into(),
        ForwardTo::Number(n) => n.clone(),
        ForwardTo::MobileConnect(n) => format!("{MOBILE_CONNECT}{n}"),
        ForwardTo::VoicemailTransfer(t) => format!("{VOICEMAIL_TRANSFER}{t}"),
    }
}

/// How Mobile Connect is written in a forwarding setting (`mobile-connect:+15855550199`).
pub const MOBILE_CONNECT: &str = "mobile-connect:";

/// How Voicemail with Transfer is written, in a forwarding setting and as a route's Finally
/// (`voicemail-transfer:102`, `voicemail-transfer:+15855550199`).
pub const VOICEMAIL_TRANSFER: &str = "voicemail-transfer:";

/// What follows `prefix` (any case) in `s`, written as a person types it (a number's spaces and
/// dashes dropped).
pub fn after_prefix(s: &str, prefix: &str) -> Option<String> {
    let head = s.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    Some(parley_core::routing::target(&s[prefix.len()..]))
}

fn forward_of(s: &str) -> ForwardTo {
    let s = s.trim();
    if let Some(n) = after_prefix(s, MOBILE_CONNECT) {
        return ForwardTo::MobileConnect(n);
    }
    if let Some(t) = after_prefix(s, VOICEMAIL_TRANSFER) {
        return ForwardTo::VoicemailTransfer(t);
    }
    match s {
        s if s.eq_ignore_ascii_case("no-forwarding") || s.is_empty() => ForwardTo::NoForwarding,
        s if s.eq_ignore_ascii_case("voicemail") => ForwardTo::Voicemail,
        s => ForwardTo::Number(s.to_string()),
    }
}

impl From<&Forwarding> for ForwardingBody {
    fn from(f: &Forwarding) -> ForwardingBody {
        ForwardingBody {
            unconditional: forward_text(&f.unconditional),
            busy: forward_text(&f.busy),
            no_answer: forward_text(&f.no_answer),
            after_secs: f.after_secs,
            custom: f.custom,
        }
    }
}

impl ForwardingBody {
    /// The settings it describes (checked by the store with the routes they make).
    pub fn forwarding(&self) -> Forwarding {
        Forwarding {
            unconditional: forward_of(&self.unconditional),
            busy: forward_of(&self.busy),
            no_answer: forward_of(&self.no_answer),
            after_secs: self.after_secs,
            custom: false,
        }
    }
}

/// A change to a user's routes.
#[derive(Debug, Clone)]
pub enum RouteChange {
    /// The route of a presence (`None`: the default).
    Route(Presence, Option<CallRoute>),
    /// The On-Busy route of a presence (`None`: none).
    OnBusy(Presence, Option<CallRoute>),
    /// The Caller-ID routes of a presence, replaced whole.
    Callers(Presence, Vec<CallerRoute>),
    /// Callisto's forwarding settings, applied to the current presence.
    Forwarding(Forwarding),
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

/// Change a user's routes: the user with the `routes` privilege, or an administrator; checked by
/// the store, audited.
pub async fn change_routes(
    s: &AppState,
    caller: &Caller,
    ext: &str,
    change: RouteChange,
) -> ApiResult<RoutingOut> {
    let may = caller.who.has(Privilege::Admin)
        || (caller.who.user == ext && caller.who.has(Privilege::Routes));
    if !may {
        return Err(ApiError::forbidden(
            "changing call routes needs the routes privilege (an administrator grants it)",
        ));
    }
    let json = |r: &Option<CallRoute>| match r {
        Some(r) => serde_json::to_string(&RouteBody::from(r)).unwrap_or_default(),
        None => "none".into(),
    };
    let st = store(s)?;
    let (done, detail) = match change {
        RouteChange::Route(p, r) => {
            let d = format!("{}: {}", p.as_str(), json(&r));
            (st.set_route(ext, p, r).await, d)
        }
        RouteChange::OnBusy(p, r) => {
            let d = format!("{} on busy: {}", p.as_str(), json(&r));
            (st.set_busy_route(ext, p, r).await, d)
        }
        RouteChange::Callers(p, list) => {
            let bodies: Vec<CallerRouteBody> = list.iter().map(CallerRouteBody::from).collect();
            let d = format!(
                "{} callers: {}",
                p.as_str(),
                serde_json::to_string(&bodies).unwrap_or_default()
            );
            (st.set_caller_routes(ext, p, list).await, d)
        }
        RouteChange::Forwarding(f) => {
            let d = format!(
                "forwarding: {}",
                serde_json::to_string(&ForwardingBody::from(&f)).unwrap_or_default()
            );
            (st.set_forwarding(ext, &f).await, d)
        }
    };
    if !done.map_err(|e| ApiError::store(e, "route"))? {
        return Err(ApiError::not_found(format!(
            "extension {ext} does not exist"
        )));
    }
    audit(s, caller, "route.set", ext, &detail).await;
    routing(s, caller, ext).await
}
