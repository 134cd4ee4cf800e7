//! My Conferences (Allworx): the conferences the user is the Creator or a Moderator of (every one for
//! administrators), with their IDs, passwords, Creators, states, dates and repetitions; "You are not
//! the creator or moderator of any conferences." when there is none; Add Conference (for users the
//! administrator allowed to) with the day's available times beside it and the conflicting
//! conferences listed after adding; and one conference's page: who is in it now and who is talking
//! (disconnect a participant), end it, change, cancel or delete it, the statistics of its past
//! sessions, and, for administrators, enabling an unscheduled conference and its password. The model
//! is [`crate::conferences`], shared with the JSON API.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use parley_core::conference::{local_date, local_time, Repeat};
use parley_store::Privilege;
use serde::Deserialize;

use super::{field, flash_to, html_response, page, posted, session_of, to_login, Posted};
use crate::api::{Caller, Peer};
use crate::conferences::{self, ConferenceInput, ConferenceOut, UnscheduledInput};
use crate::AppState;

/// The pages' routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/conferences", get(list_page).post(add))
        .route("/conferences/{id}", get(one_page).post(act))
}

#[derive(Deserialize)]
struct DayQuery {
    date: Option<String>,
}

fn caller_of(sess: &crate::api::session::WebSession, source: std::net::IpAddr) -> Caller {
    Caller {
        who: sess.who.clone(),
        source,
    }
}

fn repeat_label(days: Option<u32>) -> &'static str {
    days.and_then(|d| Repeat::from_days(d).ok())
        .map(Repeat::label)
        .unwrap_or("")
}

/// The fields of a scheduled conference (add or change), filled with `c` when changing.
fn schedule_fields(s: &AppState, c: Option<&ConferenceOut>, date: &str) -> Markup {
    let (day, time) = c
        .and_then(|c| c.when.as_deref())
        .and_then(|w| {
            let mut parts = w.split(' ');
            Some((parts.next()?.to_string(), parts.next()?.to_string()))
        })
        .unwrap_or_else(|| (date.to_string(), "09:00".to_string()));
    let zone = c
        .and_then(|c| c.time_zone.clone())
        .unwrap_or_else(|| s.time_zone.clone());
    let minutes = c.and_then(|c| c.duration_minutes).unwrap_or(60);
    let repeat = c.and_then(|c| c.repeat_days).unwrap_or(0);
    html! {
        label { "Conference description" input name="description" maxlength="200" value=[c.map(|c| c.description.as_str())]; }
        label { "Date" input type="date" name="date" required value=(day); }
        label { "Time" input type="time" name="time" required value=(time); }
        label { "Time zone" input name="time_zone" value=(zone); }
        label { "Duration (minutes)" input type="number" name="duration_minutes" min="1" max="1440" value=(minutes); }
        label { "Repeat every X days"
            select name="repeat_days" {
                @for r in Repeat::ALL {
                    option value=(r.days()) selected[r.days() == repeat] { (r.days()) " – " (r.label()) }
                }
            }
        }
        label { "Moderators (extensions, separated by commas)"
            input name="moderators" value=[c.map(|c| c.moderators.join(", "))];
        }
    }
}

fn input_of(f: &[(String, String)]) -> Result<ConferenceInput, String> {
    let minutes = field(f, "duration_minutes")
        .unwrap_or("")
        .trim()
        .parse::<u32>()
        .map_err(|_| "the duration is a number of minutes".to_string())?;
    let repeat = field(f, "repeat_days")
        .unwrap_or("0")
        .trim()
        .parse::<u32>()
        .map_err(|_| "choose how often it repeats".to_string())?;
    Ok(ConferenceInput {
        description: field(f, "description").unwrap_or("").to_string(),
        date: field(f, "date").unwrap_or("").to_string(),
        time: field(f, "time").unwrap_or("").to_string(),
        time_zone: field(f, "time_zone").map(str::to_string),
        duration_minutes: minutes,
        repeat_days: repeat,
        moderators: field(f, "moderators")
            .unwrap_or("")
            .split(',')
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .collect(),
    })
}

async fn list_page(
    State(s): State<AppState>,
    Peer(source): Peer,
    headers: HeaderMap,
    Query(q): Query<DayQuery>,
) -> Response {
    let Some(sess) = session_of(&s, &headers) else {
        return to_login("/conferences");
    };
    let caller = caller_of(&sess, source);
    let list = match conferences::list(&s, &caller).await {
        Ok(l) => l,
        Err(e) => return html_response(StatusCode::INTERNAL_SERVER_ERROR, html! { (e.message()) }),
    };
    let may_create = sess.who.has(Privilege::Conferences) || sess.who.has(Privilege::Admin);
    let today = local_date(parley_store::unix_now(), &s.time_zone);
    let date = q.date.unwrap_or(today);
    let free = conferences::availability(&s, &date, None).await.ok();
    let body = html! {
        h1 { "My Conferences" }
        @if list.is_empty() {
            p #none { "You are not the creator or moderator of any conferences." }
        } @else {
            table.grid #conferences {
                thead { tr {
                    th scope="col" { "Conference Description" } th scope="col" { "Conference ID" }
                    th scope="col" { "Conference Password" } th scope="col" { "Creator" }
                    th scope="col" { "State" } th scope="col" { "Date and Time" } th scope="col" { "Repetition" }
                } }
                tbody {
                    @for c in &list {
                        tr data-id=(c.id) {
                            td { a href={ "/conferences/" (c.id) } { @if c.description.is_empty() { "Conference " (c.id) } @else { (c.description) } } }
                            td.id { (c.id) }
                            td.password { (c.password) }
                            td { (c.creator.as_deref().unwrap_or("Administrator")) }
                            td.state { (c.state) }
                            td { (c.when.as_deref().unwrap_or("")) }
                            td { (repeat_label(c.repeat_days)) }
                        }
                    }
                }
            }
        }
        @if may_create {
            div.split {
                section.card aria-labelledby="add-h" {
                    h2 #add-h { "Add Conference" }
                    form.stack #add-conference method="post" action="/conferences" {
                        input type="hidden" name="csrf" value=(sess.csrf);
                        (schedule_fields(&s, None, &date))
                        button.primary type="submit" { "Add Conference" }
                    }
                }
                section.card #available aria-labelledby="avail-h" {
                    h2 #avail-h { "Available times" }
                    form method="get" action="/conferences" {
                        label { "Day" input type="date" name="date" value=(date); }
                        button type="submit" { "Show" }
                    }
                    @if let Some(f) = &free {
                        ul { @for period in &f.free { li { (period) } } }
                        p.hint { "Times in " (f.time_zone) " when a conference room is free." }
                    }
                }
            }
        }
    };
    html_response(StatusCode::OK, page("My Conferences", Some(&sess), body))
}

async fn add(
    State(s): State<AppState>,
    Peer(source): Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Posted {
        fields: f, caller, ..
    } = match posted(&s, &headers, source, "/conferences", &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let refused = |text: String| flash_to(&s, &headers, true, text, "/conferences");
    let input = match input_of(&f) {
        Ok(i) => i,
        Err(e) => return refused(format!("Not added: {e}.")),
    };
    match conferences::add(&s, &caller, &input).await {
        Ok(c) => {
            let mut text = format!(
                "Conference added. Conference ID {}, password {}.",
                c.id, c.password
            );
            if !c.conflicts.is_empty() {
                let names: Vec<String> = c
                    .conflicts
                    .iter()
                    .map(|x| format!("{} {}", x.id, x.description))
                    .collect();
                text += &format!(" Conflicting conferences: {}.", names.join("; "));
            }
            flash_to(&s, &headers, false, text, &format!("/conferences/{}", c.id))
        }
        Err(e) => refused(format!("Not added: {}.", e.message())),
    }
}

async fn one_page(
    State(s): State<AppState>,
    Peer(source): Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let here = format!("/conferences/{id}");
    let Some(sess) = session_of(&s, &headers) else {
        return to_login(&here);
    };
    let caller = caller_of(&sess, source);
    let c = match conferences::get(&s, &caller, &id).await {
        Ok(c) => c,
        Err(e) => {
            return html_response(
                StatusCode::NOT_FOUND,
                page(
                    "My Conferences",
                    Some(&sess),
                    html! { h1 { "My Conferences" } p.error { (e.message()) } },
                ),
            )
        }
    };
    let sessions = conferences::sessions(&s, &caller, &id)
        .await
        .unwrap_or_default();
    let scheduled = c.kind == "scheduled";
    let admin = sess.who.has(Privilege::Admin);
    let zone = c.time_zone.clone().unwrap_or_else(|| s.time_zone.clone());
    let today = local_date(parley_store::unix_now(), &zone);
    let title = if c.description.is_empty() {
        format!("Conference {}", c.id)
    } else {
        c.description.clone()
    };
    let body = html! {
        h1 { (title) }
        dl.facts {
            dt { "Conference ID" } dd #conf-id { (c.id) }
            dt { "Conference Password" } dd #conf-password { (c.password) }
            dt { "Creator" } dd { (c.creator.as_deref().unwrap_or("Administrator")) }
            dt { "Moderators" } dd { @if c.moderators.is_empty() { "None" } @else { (c.moderators.join(", ")) } }
            dt { "State" } dd #conf-state { (c.state) }
            @if let Some(w) = &c.when { dt { "Date and Time" } dd { (w) } }
            @if scheduled { dt { "Repetition" } dd { (repeat_label(c.repeat_days)) } }
        }
        @if !c.conflicts.is_empty() {
            section.card #conflicts aria-labelledby="conf-h" {
                h2 #conf-h { "Conflicting conferences" }
                ul { @for x in &c.conflicts { li { (x.id) " " (x.description) " " (x.when.as_deref().unwrap_or("")) } } }
            }
        }
        section.card aria-labelledby="live-h" {
            h2 #live-h { "In the conference now" }
            @if c.participants.is_empty() {
                p #nobody { "Nobody is in the conference." }
            } @else {
                table.grid #participants {
                    thead { tr { th scope="col" { "Caller" } th scope="col" { "Talking" } th scope="col" { "" } } }
                    tbody {
                        @for p in &c.participants {
                            tr data-call=(p.call) {
                                td { (p.caller) }
                                td.talking { @if p.talking { "Talking" } @else { "" } }
                                td {
                                    form method="post" action=(here) {
                                        input type="hidden" name="csrf" value=(sess.csrf);
                                        input type="hidden" name="call" value=(p.call);
                                        button type="submit" name="act" value="disconnect" { "Disconnect " (p.caller) }
                                    }
                                }
                            }
                        }
                    }
                }
                form method="post" action=(here) {
                    input type="hidden" name="csrf" value=(sess.csrf);
                    button type="submit" name="act" value="end" { "End the conference" }
                }
            }
            p { a href=(here) { "Refresh" } }
        }
        @if scheduled {
            section.card aria-labelledby="edit-h" {
                h2 #edit-h { "Change" }
                form.stack #edit-conference method="post" action=(here) {
                    input type="hidden" name="csrf" value=(sess.csrf);
                    (schedule_fields(&s, Some(&c), &today))
                    button.primary type="submit" name="act" value="save" { "Save" }
                }
                form method="post" action=(here) {
                    input type="hidden" name="csrf" value=(sess.csrf);
                    @if c.state != "Canceled" {
                        button type="submit" name="act" value="cancel" { "Cancel the conference" }
                    }
                    button type="submit" name="act" value="delete" { "Delete" }
                }
            }
        } @else if admin {
            section.card aria-labelledby="unsched-h" {
                h2 #unsched-h { "Unscheduled conference" }
                form.stack method="post" action=(here) {
                    input type="hidden" name="csrf" value=(sess.csrf);
                    label.check { input type="checkbox" name="enabled" value="1" checked[c.state == "Enabled"]; " Enabled (callers may enter)" }
                    label { "New password (digits; empty: unchanged)" input name="password" inputmode="numeric" maxlength="20"; }
                    label { "Moderators (extensions, separated by commas)" input name="moderators" value=(c.moderators.join(", ")); }
                    button.primary type="submit" name="act" value="unscheduled" { "Save" }
                }
            }
        }
        section.card aria-labelledby="stats-h" {
            h2 #stats-h { "Statistics" }
            @if sessions.is_empty() {
                p { "No session yet." }
            } @else {
                table.grid #sessions {
                    thead { tr { th scope="col" { "Session" } th scope="col" { "Participant" } th scope="col" { "Joined" } th scope="col" { "Left" } th scope="col" { "Duration" } } }
                    tbody {
                        @for session in &sessions {
                            @for a in &session.attendees {
                                tr {
                                    td { (local_time(session.started_at, &zone)) }
                                    td { (a.caller) }
                                    td { (local_time(a.joined_at, &zone)) }
                                    td { (local_time(a.left_at, &zone)) }
                                    td { (a.seconds / 60) " min " (a.seconds % 60) " s" }
                                }
                            }
                        }
                    }
                }
            }
        }
        p { a href="/conferences" { "All my conferences" } }
    };
    html_response(StatusCode::OK, page("My Conferences", Some(&sess), body))
}

async fn act(
    State(s): State<AppState>,
    Peer(source): Peer,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let here = format!("/conferences/{id}");
    let Posted {
        fields: f, caller, ..
    } = match posted(&s, &headers, source, &here, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let ok = |text: String, to: &str| flash_to(&s, &headers, false, text, to);
    let refused = |text: String| flash_to(&s, &headers, true, text, &here);
    match field(&f, "act").unwrap_or("") {
        "disconnect" => {
            let Some(call) = field(&f, "call").and_then(|c| c.trim().parse::<u64>().ok()) else {
                return refused("Choose a participant.".into());
            };
            match conferences::disconnect(&s, &caller, &id, call).await {
                Ok(()) => ok("Participant disconnected.".into(), &here),
                Err(e) => refused(format!("Not disconnected: {}.", e.message())),
            }
        }
        "end" => match conferences::end(&s, &caller, &id).await {
            Ok(n) => ok(format!("Conference ended ({n} participants)."), &here),
            Err(e) => refused(format!("Not ended: {}.", e.message())),
        },
        "cancel" => match conferences::cancel(&s, &caller, &id).await {
            Ok(_) => ok("Conference canceled.".into(), &here),
            Err(e) => refused(format!("Not canceled: {}.", e.message())),
        },
        "delete" => match conferences::delete(&s, &caller, &id).await {
            Ok(()) => ok(format!("Conference {id} deleted."), "/conferences"),
            Err(e) => refused(format!("Not deleted: {}.", e.message())),
        },
        "save" => {
            let input = match input_of(&f) {
                Ok(i) => i,
                Err(e) => return refused(format!("Not saved: {e}.")),
            };
            match conferences::change(&s, &caller, &id, &input).await {
                Ok(_) => ok("Conference saved.".into(), &here),
                Err(e) => refused(format!("Not saved: {}.", e.message())),
            }
        }
        "unscheduled" => {
            let password = field(&f, "password")
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_string);
            let moderators = field(&f, "moderators").map(|m| {
                m.split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect()
            });
            let input = UnscheduledInput {
                enabled: Some(field(&f, "enabled").is_some()),
                password,
                moderators,
            };
            match conferences::change_unscheduled(&s, &caller, &id, &input).await {
                Ok(_) => ok("Conference saved.".into(), &here),
                Err(e) => refused(format!("Not saved: {}.", e.message())),
            }
        }
        _ => refused("Unknown action.".into()),
    }
}
