//! The Callisto-compatible ManagerAssistant API: `/Applications/inbound/<MAGroup>/rest/<area>/<fn>.asp`
//! for groups (seed 002), members, VIP numbers and announcements, with parameters as form data or query
//! string, HTTP Basic by a user with the REST Authentication privilege, and the vendor's XML envelope
//! `<Callisto><Request>fn</Request><Response>…</Response></Callisto>` with the statuses OK,
//! PARAMETER_MISSING, ALREADY_EXISTS (add functions only), INVALID_GROUP_ID and ERROR. Every change is
//! audited.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use parley_core::ma::{
    AnnouncementSettings, GroupSettings, MemberSettings, ParamError, Params, VipSettings,
    GROUP_PARAMS,
};
use parley_store::{Change, Privilege, Store, StoreError};
use tracing::{info, warn};

use crate::{auth, AppState};

/// What a function does to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Edit,
    Delete,
    Get,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Area {
    Groups,
    Members,
    Vip,
    Announcements,
}

/// The functions of the API: (area path, function name, area, operation).
const FUNCTIONS: &[(&str, &str, Area, Op)] = &[
    ("groups", "addGroup", Area::Groups, Op::Add),
    ("groups", "editGroup", Area::Groups, Op::Edit),
    ("groups", "deleteGroup", Area::Groups, Op::Delete),
    ("groups", "getGroups", Area::Groups, Op::Get),
    ("members", "addMember", Area::Members, Op::Add),
    ("members", "editMember", Area::Members, Op::Edit),
    ("members", "deleteMember", Area::Members, Op::Delete),
    ("members", "getMembers", Area::Members, Op::Get),
    ("vip", "addVIPNumber", Area::Vip, Op::Add),
    ("vip", "editVIPNumber", Area::Vip, Op::Edit),
    ("vip", "deleteVIPNumber", Area::Vip, Op::Delete),
    ("vip", "getVIPNumbers", Area::Vip, Op::Get),
    (
        "announcements",
        "addAnnouncement",
        Area::Announcements,
        Op::Add,
    ),
    (
        "announcements",
        "editAnnouncement",
        Area::Announcements,
        Op::Edit,
    ),
    (
        "announcements",
        "deleteAnnouncement",
        Area::Announcements,
        Op::Delete,
    ),
    (
        "announcements",
        "getAnnouncements",
        Area::Announcements,
        Op::Get,
    ),
];

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

fn element(name: &str, value: &str) -> String {
    format!("<{name}>{}</{name}>", escape(value))
}

/// The envelope; `message` (for failures) goes in a `<Message>` after `<Response>`.
fn envelope(code: StatusCode, request: &str, response: &str, message: Option<&str>) -> Response {
    let msg = message.map(|m| element("Message", m)).unwrap_or_default();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Callisto>{}<Response>{response}</Response>{msg}</Callisto>\n",
        element("Request", request)
    );
    (
        code,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/xml; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// The outcome of one API function: the `<Response>` content, a message on failure, and what to audit.
struct Outcome {
    response: String,
    message: Option<String>,
    changed: Option<String>,
}

impl Outcome {
    fn status(status: &str, message: Option<String>) -> Outcome {
        Outcome {
            response: status.to_string(),
            message,
            changed: None,
        }
    }

    /// `addX` answers with `<id>` and `<status>` children.
    fn added(id: Option<i64>, status: &str, message: Option<String>) -> Outcome {
        Outcome {
            response: format!(
                "{}{}",
                element("id", &id.map(|i| i.to_string()).unwrap_or_default()),
                element("status", status)
            ),
            message,
            changed: None,
        }
    }

    fn changed(mut self, target: String) -> Outcome {
        self.changed = Some(target);
        self
    }
}

fn param_failure(op: Op, e: &ParamError) -> Outcome {
    let status = match e {
        ParamError::Missing(_) => "PARAMETER_MISSING",
        ParamError::Invalid { .. } => "ERROR",
    };
    if op == Op::Add {
        Outcome::added(None, status, Some(e.to_string()))
    } else {
        Outcome::status(status, Some(e.to_string()))
    }
}

fn invalid_id(op: Op, what: &str) -> Outcome {
    let (status, msg) = if what == "gr_id" {
        (
            "INVALID_GROUP_ID",
            "no group with this gr_id in this instance".to_string(),
        )
    } else {
        ("ERROR", format!("no such {what} in this instance"))
    };
    if op == Op::Add {
        Outcome::added(None, status, Some(msg))
    } else {
        Outcome::status(status, Some(msg))
    }
}

/// The handler of every Callisto API path.
#[allow(clippy::too_many_arguments)]
pub async fn handle(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    Path((instance, area, function)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(store) = s.store.clone() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no store\n").into_response();
    };
    let caller = match auth::basic(&store, &s.guard, &headers, peer.ip()).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let name = function.strip_suffix(".asp").unwrap_or("");
    let Some(&(_, fname, area_kind, op)) = FUNCTIONS
        .iter()
        .find(|(a, f, _, _)| *a == area && *f == name)
    else {
        return envelope(
            StatusCode::NOT_FOUND,
            &function,
            "ERROR",
            Some("no such function: see rest/groups, rest/members, rest/vip, rest/announcements"),
        );
    };
    if !caller.has(Privilege::Rest) {
        info!(user = %caller.user, function = fname, "Callisto API refused: no REST Authentication privilege");
        return envelope(
            StatusCode::FORBIDDEN,
            fname,
            "ERROR",
            Some("this account lacks the REST Authentication privilege"),
        );
    }
    let get_allowed = matches!(op, Op::Delete | Op::Get);
    if method != Method::POST && !(method == Method::GET && get_allowed) {
        let allow = if get_allowed { "GET, POST" } else { "POST" };
        let mut r = envelope(
            StatusCode::METHOD_NOT_ALLOWED,
            fname,
            "ERROR",
            Some(&format!("{fname} accepts {allow}")),
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
        return r;
    }
    match store.ma_instance_exists(&instance).await {
        Ok(true) => {}
        Ok(false) => {
            return envelope(
                StatusCode::NOT_FOUND,
                fname,
                "ERROR",
                Some(&format!(
                    "unknown ManagerAssistant application instance {instance:?}"
                )),
            )
        }
        Err(e) => return internal(fname, &e),
    }
    let mut pairs: Vec<(String, String)> = query
        .as_deref()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    pairs.extend(form_urlencoded::parse(&body).into_owned());
    let detail: String = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let params = Params::new(pairs);
    let result = match area_kind {
        Area::Groups => groups(&store, &instance, op, &params).await,
        Area::Members => members(&store, &instance, op, &params).await,
        Area::Vip => vips(&store, &instance, op, &params).await,
        Area::Announcements => announcements(&store, &instance, op, &params).await,
    };
    let outcome = match result {
        Ok(o) => o,
        Err(e) => return internal(fname, &e),
    };
    if let Some(target) = &outcome.changed {
        let action = format!("ma.{fname}");
        info!(user = %caller.user, action = %action, target = %parley_core::text::Printable(target), "API change");
        if let Err(e) = store
            .audit(
                parley_store::unix_now(),
                &caller.user,
                &peer.ip().to_string(),
                &action,
                &format!("{instance}/{target}"),
                &detail.chars().take(2000).collect::<String>(),
            )
            .await
        {
            warn!(error = %e, "audit log write failed");
        }
    }
    envelope(
        StatusCode::OK,
        fname,
        &outcome.response,
        outcome.message.as_deref(),
    )
}

fn internal(fname: &str, e: &StoreError) -> Response {
    warn!(error = %e, function = fname, "Callisto API store failure");
    envelope(
        StatusCode::INTERNAL_SERVER_ERROR,
        fname,
        "ERROR",
        Some("internal error"),
    )
}

fn group_xml(id: i64, g: &GroupSettings) -> String {
    let mut s = String::from("<group>");
    s.push_str(&element("id", &id.to_string()));
    for p in GROUP_PARAMS {
        s.push_str(&element(p, &g.api_value(p)));
    }
    s.push_str("</group>");
    s
}

async fn groups(store: &Store, instance: &str, op: Op, p: &Params) -> Result<Outcome, StoreError> {
    Ok(match op {
        Op::Add => {
            if let Err(e) = p.required("gr_name") {
                return Ok(param_failure(op, &e));
            }
            match GroupSettings::default().apply(p) {
                Err(e) => param_failure(op, &e),
                Ok(g) => match store.add_group(instance, &g).await? {
                    Change::Done(id) => {
                        Outcome::added(Some(id), "OK", None).changed(format!("group/{id}"))
                    }
                    Change::Duplicate => Outcome::added(
                        None,
                        "ALREADY_EXISTS",
                        Some(format!("a group named {:?} exists already", g.name)),
                    ),
                    Change::NotFound => invalid_id(op, "gr_id"),
                },
            }
        }
        Op::Edit => {
            let id = match p.id("gr_id") {
                Ok(id) => id,
                Err(e) => return Ok(param_failure(op, &e)),
            };
            let Some(current) = store.group(instance, id).await? else {
                return Ok(invalid_id(op, "gr_id"));
            };
            match current.settings.apply(p) {
                Err(e) => param_failure(op, &e),
                Ok(g) => match store.update_group(instance, id, &g).await? {
                    Change::Done(()) => Outcome::status("OK", None).changed(format!("group/{id}")),
                    // Seed 002: editGroup answers OK, PARAMETER_MISSING, INVALID_GROUP_ID or ERROR
                    // only (ALREADY_EXISTS belongs to addGroup); the message says why.
                    Change::Duplicate => Outcome::status(
                        "ERROR",
                        Some(format!(
                            "cannot rename the group: a group named {:?} exists already",
                            g.name
                        )),
                    ),
                    Change::NotFound => invalid_id(op, "gr_id"),
                },
            }
        }
        Op::Delete => match p.id("gr_id") {
            Err(e) => param_failure(op, &e),
            Ok(id) => {
                if store.delete_group(instance, id).await? {
                    Outcome::status("OK", None).changed(format!("group/{id}"))
                } else {
                    invalid_id(op, "gr_id")
                }
            }
        },
        Op::Get => {
            let id = match p.get("gr_id").map(str::trim).filter(|v| !v.is_empty()) {
                None => None,
                Some(v) => match v.parse::<i64>() {
                    Ok(id) => Some(id),
                    Err(_) => {
                        return Ok(Outcome::status(
                            "ERROR",
                            Some("gr_id must be a number".into()),
                        ))
                    }
                },
            };
            let name = p.get("gr_name").unwrap_or("");
            let list = store.find_groups(instance, name, id).await?;
            Outcome {
                response: list.iter().map(|g| group_xml(g.id, &g.settings)).collect(),
                message: None,
                changed: None,
            }
        }
    })
}

fn member_xml(m: &parley_store::Member) -> String {
    let s = &m.settings;
    format!(
        "<member>{}{}{}{}{}{}{}</member>",
        element("id", &m.id.to_string()),
        element("gr_id", &m.group.to_string()),
        element("usr_Name", &s.user_name),
        element("mb_number", &s.number),
        element("gm_shortName", &s.short_name),
        element("gm_type", if s.manager { "1" } else { "0" }),
        element("displayedGroup", &s.displayed_group),
    )
}

fn optional_id(p: &Params, name: &'static str) -> Result<Option<i64>, ParamError> {
    match p.get(name).map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(_) => p.id(name).map(Some),
    }
}

async fn members(store: &Store, instance: &str, op: Op, p: &Params) -> Result<Outcome, StoreError> {
    Ok(match op {
        Op::Add => {
            let group = match p.id("gr_id") {
                Ok(g) => g,
                Err(e) => return Ok(param_failure(op, &e)),
            };
            match MemberSettings::apply(None, p) {
                Err(e) => param_failure(op, &e),
                Ok(m) => match store.add_member(instance, group, &m).await? {
                    Some(id) => {
                        Outcome::added(Some(id), "OK", None).changed(format!("member/{id}"))
                    }
                    None => invalid_id(op, "gr_id"),
                },
            }
        }
        Op::Edit => {
            let id = match p.id("gm_id") {
                Ok(id) => id,
                Err(e) => return Ok(param_failure(op, &e)),
            };
            let Some(current) = store.members(instance, None, Some(id)).await?.pop() else {
                return Ok(invalid_id(op, "gm_id"));
            };
            match MemberSettings::apply(Some(&current.settings), p) {
                Err(e) => param_failure(op, &e),
                Ok(m) => {
                    store.update_member(instance, id, &m).await?;
                    Outcome::status("OK", None).changed(format!("member/{id}"))
                }
            }
        }
        Op::Delete => match p.id("gm_id") {
            Err(e) => param_failure(op, &e),
            Ok(id) => {
                if store.delete_member(instance, id).await? {
                    Outcome::status("OK", None).changed(format!("member/{id}"))
                } else {
                    invalid_id(op, "gm_id")
                }
            }
        },
        Op::Get => {
            let (group, id) = match (optional_id(p, "gr_id"), optional_id(p, "gm_id")) {
                (Ok(g), Ok(i)) => (g, i),
                (Err(e), _) | (_, Err(e)) => return Ok(param_failure(op, &e)),
            };
            if let Some(g) = group {
                if store.group(instance, g).await?.is_none() {
                    return Ok(invalid_id(op, "gr_id"));
                }
            }
            let list = store.members(instance, group, id).await?;
            Outcome {
                response: list.iter().map(member_xml).collect(),
                message: None,
                changed: None,
            }
        }
    })
}

async fn vips(store: &Store, instance: &str, op: Op, p: &Params) -> Result<Outcome, StoreError> {
    let xml = |v: &parley_store::Vip| {
        format!(
            "<vip>{}{}{}{}</vip>",
            element("id", &v.id.to_string()),
            element("vn_number", &v.settings.number),
            element("vn_description", &v.settings.description),
            element("mb_id", &v.settings.member.to_string()),
        )
    };
    Ok(match op {
        Op::Add => {
            if let Err(e) = p.id("mb_id") {
                return Ok(param_failure(op, &e));
            }
            match VipSettings::apply(None, p) {
                Err(e) => param_failure(op, &e),
                Ok(v) => match store.add_vip(instance, &v).await? {
                    Some(id) => Outcome::added(Some(id), "OK", None).changed(format!("vip/{id}")),
                    None => invalid_id(op, "mb_id"),
                },
            }
        }
        Op::Edit => {
            let id = match p.id("vn_id") {
                Ok(id) => id,
                Err(e) => return Ok(param_failure(op, &e)),
            };
            let Some(current) = store.vips(instance, None, Some(id)).await?.pop() else {
                return Ok(invalid_id(op, "vn_id"));
            };
            match VipSettings::apply(Some(&current.settings), p) {
                Err(e) => param_failure(op, &e),
                Ok(v) => {
                    if store.update_vip(instance, id, &v).await? {
                        Outcome::status("OK", None).changed(format!("vip/{id}"))
                    } else {
                        invalid_id(op, "mb_id")
                    }
                }
            }
        }
        Op::Delete => match p.id("vn_id") {
            Err(e) => param_failure(op, &e),
            Ok(id) => {
                if store.delete_vip(instance, id).await? {
                    Outcome::status("OK", None).changed(format!("vip/{id}"))
                } else {
                    invalid_id(op, "vn_id")
                }
            }
        },
        Op::Get => {
            let (member, id) = match (optional_id(p, "mb_id"), optional_id(p, "vn_id")) {
                (Ok(m), Ok(i)) => (m, i),
                (Err(e), _) | (_, Err(e)) => return Ok(param_failure(op, &e)),
            };
            let list = store.vips(instance, member, id).await?;
            Outcome {
                response: list.iter().map(xml).collect(),
                message: None,
                changed: None,
            }
        }
    })
}

async fn announcements(
    store: &Store,
    instance: &str,
    op: Op,
    p: &Params,
) -> Result<Outcome, StoreError> {
    let xml = |a: &parley_store::Announcement| {
        format!(
            "<announcement>{}{}{}{}</announcement>",
            element("id", &a.id.to_string()),
            element("gr_id", &a.group.to_string()),
            element("an_wave", &a.settings.wave),
            element("an_priority", &a.settings.priority.to_string()),
        )
    };
    Ok(match op {
        Op::Add => {
            let group = match p.id("gr_id") {
                Ok(g) => g,
                Err(e) => return Ok(param_failure(op, &e)),
            };
            match AnnouncementSettings::apply(None, p) {
                Err(e) => param_failure(op, &e),
                Ok(a) => match store.add_announcement(instance, group, &a).await? {
                    Some(id) => {
                        Outcome::added(Some(id), "OK", None).changed(format!("announcement/{id}"))
                    }
                    None => invalid_id(op, "gr_id"),
                },
            }
        }
        Op::Edit => {
            let id = match p.id("an_id") {
                Ok(id) => id,
                Err(e) => return Ok(param_failure(op, &e)),
            };
            let Some(current) = store.announcements(instance, None, Some(id)).await?.pop() else {
                return Ok(invalid_id(op, "an_id"));
            };
            match AnnouncementSettings::apply(Some(&current.settings), p) {
                Err(e) => param_failure(op, &e),
                Ok(a) => {
                    store.update_announcement(instance, id, &a).await?;
                    Outcome::status("OK", None).changed(format!("announcement/{id}"))
                }
            }
        }
        Op::Delete => match p.id("an_id") {
            Err(e) => param_failure(op, &e),
            Ok(id) => {
                if store.delete_announcement(instance, id).await? {
                    Outcome::status("OK", None).changed(format!("announcement/{id}"))
                } else {
                    invalid_id(op, "an_id")
                }
            }
        },
        Op::Get => {
            let (group, id) = match (optional_id(p, "gr_id"), optional_id(p, "an_id")) {
                (Ok(g), Ok(i)) => (g, i),
                (Err(e), _) | (_, Err(e)) => return Ok(param_failure(op, &e)),
            };
            if let Some(g) = group {
                if store.group(instance, g).await?.is_none() {
                    return Ok(invalid_id(op, "gr_id"));
                }
            }
            let list = store.announcements(instance, group, id).await?;
            Outcome {
                response: list.iter().map(xml).collect(),
                message: None,
                changed: None,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_text_is_escaped() {
        assert_eq!(element("name", "A&B <x>"), "<name>A&amp;B &lt;x&gt;</name>");
    }

    #[test]
    fn every_function_is_listed_once() {
        for (i, f) in FUNCTIONS.iter().enumerate() {
            assert!(FUNCTIONS[i + 1..].iter().all(|g| g.1 != f.1), "{}", f.1);
        }
        assert_eq!(FUNCTIONS.len(), 16);
    }
}
