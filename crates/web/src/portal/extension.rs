//! My Extension (Allworx): the call route of every presence, and for the chosen one an editor of
//! its connection attempts (destinations rung at once, for how long), its Finally route, its
//! On-Busy route and its Caller-ID routes, with "Update Call Route" and the copy of a route to other
//! presences. Users change their routes with the `routes` privilege (the administrator grants it, as
//! the seed says); administrators open anyone's (`?mailbox=101`). The model is [`crate::routing`],
//! shared with the JSON API.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use parley_core::routing::{CallRoute, Finally, Presence, MAX_ATTEMPTS};
use parley_store::Privilege;
use serde::Deserialize;

use super::presence::describe;
use super::{
    field, flash_to, forbidden, html_response, mailbox_of, no_db, page, posted, session_of,
    to_login, whose, Posted,
};
use crate::api::Peer;
use crate::routing::{AttemptBody, CallerRouteBody, RouteBody, RouteChange};
use crate::AppState;

/// The page's routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/extension", get(extension_page).post(extension_save))
}

#[derive(Deserialize)]
struct PageQuery {
    mailbox: Option<String>,
    presence: Option<String>,
}

/// This page for `ext` and `presence`.
fn here(ext: &str, own: bool, presence: Presence) -> String {
    if own {
        format!("/extension?presence={}", presence.as_str())
    } else {
        format!("/extension?mailbox={ext}&presence={}", presence.as_str())
    }
}

/// The rows of a route's connection attempts and its Finally route, as form fields named with
/// `prefix` (one empty row more than it has, to add an attempt).
fn route_fields(prefix: &str, route: &CallRoute, editable: bool) -> Markup {
    let body = RouteBody::from(route);
    let rows = (body.attempts.len() + 1).clamp(2, MAX_ATTEMPTS);
    let (finally, finally_ext) = match &route.finally {
        Finally::Voicemail => ("voicemail", String::new()),
        Finally::HangUp => ("hang-up", String::new()),
        Finally::Extension(e) | Finally::Number(e) => ("extension", e.clone()),
        Finally::VoicemailTransfer(t) => ("voicemail-transfer", t.clone()),
    };
    html! {
        @for i in 0..rows {
            @let a = body.attempts.get(i);
            div.row.attempt {
                span {
                    label for=(format!("{prefix}-dest-{i}")) { "Connection attempt " (i + 1) ": rings" }
                    input id=(format!("{prefix}-dest-{i}")) name=(format!("{prefix}_dest_{i}")) disabled[!editable]
                        placeholder="handsets, 102, +15855550199" value=(a.map(|a| a.destinations.join(", ")).unwrap_or_default());
                }
                span {
                    label for=(format!("{prefix}-ring-{i}")) { "for (s)" }
                    input id=(format!("{prefix}-ring-{i}")) name=(format!("{prefix}_ring_{i}")) inputmode="numeric" disabled[!editable]
                        placeholder="default" value=(a.and_then(|a| a.ring_secs).map(|s| s.to_string()).unwrap_or_default());
                }
            }
        }
        div.row {
            span {
                label for=(format!("{prefix}-finally")) { "Finally" }
                select id=(format!("{prefix}-finally")) name=(format!("{prefix}_finally")) disabled[!editable] {
                    option value="voicemail" selected[finally == "voicemail"] { "Voicemail" }
                    option value="extension" selected[finally == "extension"] { "Another extension or a number" }
                    option value="voicemail-transfer" selected[finally == "voicemail-transfer"] { "Voicemail, where 0 transfers to an extension or number" }
                    option value="hang-up" selected[finally == "hang-up"] { "Hang up" }
                }
            }
            span {
                label for=(format!("{prefix}-finally-ext")) { "Extension, or a number outside as +1 585 555 0123" }
                input id=(format!("{prefix}-finally-ext")) name=(format!("{prefix}_finally_ext")) inputmode="tel"
                    disabled[!editable] value=(finally_ext);
            }
        }
    }
}

/// The route a form posted under `prefix`; an attempt row left empty is no attempt.
fn posted_route(f: &[(String, String)], prefix: &str) -> Result<RouteBody, String> {
    let mut attempts = Vec::new();
    for i in 0..MAX_ATTEMPTS {
        let dest = field(f, &format!("{prefix}_dest_{i}")).unwrap_or("").trim();
        let ring = field(f, &format!("{prefix}_ring_{i}")).unwrap_or("").trim();
        if dest.is_empty() {
            if !ring.is_empty() {
                return Err(format!("connection attempt {} rings nothing", i + 1));
            }
            continue;
        }
        let ring_secs = match ring {
            "" => None,
            r => Some(r.parse::<u32>().map_err(|_| {
                format!(
                    "the time of connection attempt {} is a number of seconds",
                    i + 1
                )
            })?),
        };
        attempts.push(AttemptBody {
            destinations: dest
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_string)
                .collect(),
            ring_secs,
        });
    }
    let finally = match field(f, &format!("{prefix}_finally")).unwrap_or("voicemail") {
        "extension" => {
            let e = field(f, &format!("{prefix}_finally_ext"))
                .unwrap_or("")
                .trim();
            if e.is_empty() {
                return Err("Finally: give the extension or the number".into());
            }
            e.to_string()
        }
        "voicemail-transfer" => {
            let t = field(f, &format!("{prefix}_finally_ext"))
                .unwrap_or("")
                .trim();
            if t.is_empty() {
                return Err("Finally: give the extension or number 0 transfers to".into());
            }
            format!("{}{t}", crate::routing::VOICEMAIL_TRANSFER)
        }
        "hang-up" => "hang-up".into(),
        _ => "voicemail".into(),
    };
    Ok(RouteBody { attempts, finally })
}

async fn extension_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    let Some(sess) = session_of(&s, &headers) else {
        return to_login("/extension");
    };
    let Some(ext) = mailbox_of(&sess, q.mailbox.as_deref()) else {
        return forbidden("you may only see your own call routes");
    };
    let own = ext == sess.who.user;
    let Some(store) = s.store.as_ref() else {
        return no_db();
    };
    let (Ok(routing), Ok(users)) = (store.routing(&ext).await, store.list_users().await) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "database error").into_response();
    };
    let chosen = q
        .presence
        .as_deref()
        .and_then(Presence::parse)
        .unwrap_or(routing.presence);
    let editable = sess.who.has(Privilege::Admin) || (own && sess.who.has(Privilege::Routes));
    let no_answer = s.no_answer_secs;
    let route = routing.routes.get(&chosen).cloned().unwrap_or_default();
    let busy = routing.on_busy.get(&chosen);
    let callers = routing.callers.get(&chosen).cloned().unwrap_or_default();
    let action = here(&ext, own, chosen);
    let body = html! {
        h1 { "My Extension" (whose(&users, &ext, own)) }
        p.hint { "Where calls to " (ext) " go, for each presence. The current presence is "
            strong { (routing.presence.label()) } "." }
        table.grid.routes {
            thead { tr { th scope="col" { "Presence" } th scope="col" { "Call route" } th scope="col" { "" } } }
            tbody {
                @for p in Presence::ALL {
                    @let r = routing.routes.get(&p).cloned().unwrap_or_default();
                    tr #(format!("route-{}", p.as_str())) {
                        td data-label="Presence" { (p.label()) @if p == routing.presence { " (current)" } }
                        td.route data-label="Call route" { (describe(&r, no_answer)) }
                        td { a href=(here(&ext, own, p)) { "Modify" } }
                    }
                }
            }
        }
        section.card #editor aria-labelledby="editor-h" {
            h2 #editor-h { (chosen.label()) }
            @if !editable {
                p.notice { "Your administrator has not given you permission to change your call routes." }
            }
            p.hint { "A connection attempt rings its destinations at once: " code { "handsets" } " (your phones) or extensions, separated by commas. Leave the time empty for the system's " (no_answer) " s." }
            form.stack #route method="post" action=(action) {
                input type="hidden" name="csrf" value=(sess.csrf);
                h3 { "Call route" }
                (route_fields("route", &route, editable))
                fieldset.copy {
                    legend { "Also use this call route for" }
                    @for p in Presence::ALL.into_iter().filter(|p| *p != chosen) {
                        label.inline { input type="checkbox" name="copy" value=(p.as_str()) disabled[!editable]; (p.label()) }
                    }
                }
                @if editable {
                    div.actions {
                        button.primary name="act" value="route" { "Update Call Route" }
                        button name="act" value="default" { "Use the default route" }
                    }
                }
            }
            form.stack #on-busy method="post" action=(action) {
                input type="hidden" name="csrf" value=(sess.csrf);
                h3 { "On-Busy route" }
                label.check {
                    input type="checkbox" name="busy_on" value="on" checked[busy.is_some()] disabled[!editable];
                    " Use the call route below while " (ext) " is on a call (otherwise calls follow the call route above)"
                }
                (route_fields("busy", &busy.cloned().unwrap_or_default(), editable))
                @if editable {
                    button.primary name="act" value="busy" { "Update On-Busy Route" }
                }
            }
            section #callers {
                h3 { "Caller-ID routes" }
                @if callers.is_empty() {
                    p.empty { "None: every caller follows the call route." }
                } @else {
                    form method="post" action=(action) {
                        input type="hidden" name="csrf" value=(sess.csrf);
                        table.grid.callers {
                            thead { tr { th scope="col" { "Callers" } th scope="col" { "Call route" } th scope="col" { "" } } }
                            tbody {
                                @for (i, c) in callers.iter().enumerate() {
                                    tr.caller {
                                        td data-label="Callers" {
                                            @match &c.caller {
                                                parley_core::routing::CallerMatch::External(p) => { "Caller ID " code { (p) } }
                                                parley_core::routing::CallerMatch::Internal(e) => { "Phones of " (e) }
                                            }
                                        }
                                        td.route data-label="Call route" { (describe(&c.route, no_answer)) }
                                        td { @if editable { button.danger name="remove_caller" value=(i) { "Remove" } } }
                                    }
                                }
                            }
                        }
                    }
                }
                @if editable {
                    form.stack #add-caller method="post" action=(action) {
                        input type="hidden" name="csrf" value=(sess.csrf);
                        h4 { "Add a Caller-ID route" }
                        div.row {
                            span {
                                label for="caller-kind" { "Calls from" }
                                select #caller-kind name="caller_kind" {
                                    option value="external" { "outside: Caller ID number" }
                                    option value="internal" { "inside: phones of an extension" }
                                }
                            }
                            span {
                                label for="caller-value" { "Number (* for any digits) or extension" }
                                input #caller-value name="caller_value" required placeholder="585*";
                            }
                        }
                        (route_fields("caller", &CallRoute::default(), true))
                        button.primary name="act" value="caller" { "Add Call Route" }
                    }
                }
            }
        }
    };
    html_response(StatusCode::OK, page("My Extension", Some(&sess), body))
}

async fn extension_save(
    State(s): State<AppState>,
    Peer(source): Peer,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
    body: Bytes,
) -> Response {
    let Posted {
        sess,
        fields: f,
        caller,
    } = match posted(&s, &headers, source, "/extension", &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(ext) = mailbox_of(&sess, q.mailbox.as_deref()) else {
        return forbidden("you may only change your own call routes");
    };
    let Some(store) = s.store.as_ref() else {
        return no_db();
    };
    let Ok(routing) = store.routing(&ext).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "database error").into_response();
    };
    let presence = q
        .presence
        .as_deref()
        .and_then(Presence::parse)
        .unwrap_or(routing.presence);
    let back = here(&ext, ext == sess.who.user, presence);
    let ok = |text: String| flash_to(&s, &headers, false, text, &back);
    let refused = |text: String| flash_to(&s, &headers, true, text, &back);
    let mut changes: Vec<RouteChange> = Vec::new();
    let done;
    if let Some(i) = field(&f, "remove_caller").and_then(|i| i.parse::<usize>().ok()) {
        let mut list = routing.callers.get(&presence).cloned().unwrap_or_default();
        if i >= list.len() {
            return refused("That Caller-ID route is gone already.".into());
        }
        list.remove(i);
        changes.push(RouteChange::Callers(presence, list));
        done = "Caller-ID route removed.".to_string();
    } else {
        match field(&f, "act").unwrap_or("") {
            "route" => {
                let body = match posted_route(&f, "route") {
                    Ok(b) => b,
                    Err(e) => return refused(format!("Not saved: {e}.")),
                };
                let route = body.route();
                changes.push(RouteChange::Route(presence, Some(route.clone())));
                let copies: Vec<Presence> = f
                    .iter()
                    .filter(|(k, _)| k == "copy")
                    .filter_map(|(_, v)| Presence::parse(v))
                    .filter(|p| *p != presence)
                    .collect();
                for p in &copies {
                    changes.push(RouteChange::Route(*p, Some(route.clone())));
                }
                done = if copies.is_empty() {
                    format!("Call route of {} updated.", presence.label())
                } else {
                    format!(
                        "Call route of {} updated, and of {}.",
                        presence.label(),
                        copies
                            .iter()
                            .map(|p| p.label())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
            }
            "default" => {
                changes.push(RouteChange::Route(presence, None));
                done = format!("{} uses the default route.", presence.label());
            }
            "busy" => {
                if field(&f, "busy_on") == Some("on") {
                    let body = match posted_route(&f, "busy") {
                        Ok(b) => b,
                        Err(e) => return refused(format!("Not saved: {e}.")),
                    };
                    changes.push(RouteChange::OnBusy(presence, Some(body.route())));
                    done = "On-Busy route updated.".into();
                } else {
                    changes.push(RouteChange::OnBusy(presence, None));
                    done = "No On-Busy route: calls follow the call route.".into();
                }
            }
            "caller" => {
                let body = match posted_route(&f, "caller") {
                    Ok(b) => b,
                    Err(e) => return refused(format!("Not added: {e}.")),
                };
                let value = field(&f, "caller_value").unwrap_or("").trim().to_string();
                let (external, internal) = match field(&f, "caller_kind") {
                    Some("internal") => (None, Some(value)),
                    _ => (Some(value), None),
                };
                let new = CallerRouteBody {
                    external,
                    internal,
                    attempts: body.attempts,
                    finally: body.finally,
                };
                let new = match new.caller_route() {
                    Ok(c) => c,
                    Err(e) => return refused(format!("Not added: {}.", e.message())),
                };
                let mut list = routing.callers.get(&presence).cloned().unwrap_or_default();
                list.push(new);
                changes.push(RouteChange::Callers(presence, list));
                done = "Caller-ID route added.".into();
            }
            _ => return refused("Nothing to do.".into()),
        }
    }
    for change in changes {
        if let Err(e) = crate::routing::change_routes(&s, &caller, &ext, change).await {
            return refused(format!("Not saved: {}.", e.message()));
        }
    }
    ok(done)
}
