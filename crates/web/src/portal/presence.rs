//! My Presence (Allworx): the seven presences to choose from, each with what its call route does to
//! the next call, and an explicit Save. Administrators may open anyone's (`?mailbox=101`). The
//! model is [`crate::routing`], shared with the JSON API.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::html;
use parley_core::routing::{CallRoute, Destination, Finally, Presence};
use serde::Deserialize;

use super::{
    field, flash_to, forbidden, html_response, mailbox_of, no_db, page, posted, session_of,
    to_login, url_for, whose, Posted,
};
use crate::api::Peer;
use crate::AppState;

/// The page's routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/presence", get(presence_page).post(presence_save))
}

#[derive(Deserialize)]
struct MailboxQuery {
    mailbox: Option<String>,
}

/// What a route does to a call, in words ("Rings your phones and 102 for 20 s, then voicemail.").
pub(super) fn describe(route: &CallRoute, no_answer_secs: u64) -> String {
    let mut parts: Vec<String> = route
        .attempts
        .iter()
        .map(|a| {
            let what: Vec<String> = a
                .destinations
                .iter()
                .map(|d| match d {
                    Destination::Handsets => "your phones".to_string(),
                    Destination::Extension(e) => format!("extension {e}"),
                    Destination::Number(n) => format!("{n} (press 1 to accept)"),
                })
                .collect();
            let secs = a.ring_secs.map_or(no_answer_secs, u64::from);
            format!("rings {} for {secs} s", what.join(" and "))
        })
        .collect();
    parts.push(match &route.finally {
        Finally::Voicemail => "then voicemail".to_string(),
        Finally::HangUp => "then the caller hears that nobody is available".to_string(),
        Finally::Extension(e) => format!("then goes to extension {e}"),
        Finally::Number(n) => format!("then goes outside to {n}"),
        Finally::VoicemailTransfer(t) => format!("then voicemail, where 0 transfers to {t}"),
    });
    let mut text = parts.join(", ");
    if let Some(first) = text.get(..1) {
        text = first.to_uppercase() + &text[1..];
    }
    text + "."
}

async fn presence_page(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<MailboxQuery>,
) -> Response {
    let Some(sess) = session_of(&s, &headers) else {
        return to_login("/presence");
    };
    let Some(ext) = mailbox_of(&sess, q.mailbox.as_deref()) else {
        return forbidden("you may only change your own presence");
    };
    let own = ext == sess.who.user;
    let Some(store) = s.store.as_ref() else {
        return no_db();
    };
    let (Ok(routing), Ok(users)) = (store.routing(&ext).await, store.list_users().await) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "database error").into_response();
    };
    let no_answer = s.no_answer_secs;
    let body = html! {
        h1 { "My Presence" (whose(&users, &ext, own)) }
        p.hint { "Your presence decides where your next calls go, and others see it in the Directory." }
        form.stack #presence method="post" action=(url_for("/presence", &ext, own)) {
            input type="hidden" name="csrf" value=(sess.csrf);
            fieldset.presences {
                legend { "Presence" }
                @for p in Presence::ALL {
                    @let route = routing.routes.get(&p).cloned().unwrap_or_default();
                    label.check {
                        input type="radio" name="presence" value=(p.as_str()) checked[routing.presence == p];
                        span {
                            strong { (p.label()) }
                            br;
                            small.muted.route { (describe(&route, no_answer)) }
                        }
                    }
                }
            }
            button.primary type="submit" { "Save" }
        }
    };
    html_response(StatusCode::OK, page("My Presence", Some(&sess), body))
}

async fn presence_save(
    State(s): State<AppState>,
    Peer(source): Peer,
    headers: HeaderMap,
    Query(q): Query<MailboxQuery>,
    body: Bytes,
) -> Response {
    let Posted {
        sess,
        fields: f,
        caller,
    } = match posted(&s, &headers, source, "/presence", &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(ext) = mailbox_of(&sess, q.mailbox.as_deref()) else {
        return forbidden("you may only change your own presence");
    };
    let here = url_for("/presence", &ext, ext == sess.who.user);
    if s.store.is_none() {
        return no_db();
    }
    let Some(p) = field(&f, "presence").and_then(Presence::parse) else {
        return flash_to(&s, &headers, true, "Choose a presence.", &here);
    };
    match crate::routing::set_presence(&s, &caller, &ext, p).await {
        Ok(_) => flash_to(
            &s,
            &headers,
            false,
            format!("Your presence is {}.", p.label()),
            &here,
        ),
        Err(e) => flash_to(
            &s,
            &headers,
            true,
            format!("Not saved: {}.", e.message()),
            &here,
        ),
    }
}
