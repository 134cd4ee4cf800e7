//! The administrator's Trunks page: every trunk with its live state (registered, failed with the
//! reason, down after failed OPTIONS, the calls it carries now), a form to change each (the password
//! is write-only: the form says whether one is set and only ever replaces or clears it), a form to
//! add one, and the company's numbers (DIDs) with where they go. The same model as the JSON API
//! ([`crate::trunks`]), audited the same way.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use parley_store::Privilege;

use super::{
    field, flash_to, forbidden, html_response, no_db, page, posted, session_of, to_login, Posted,
};
use crate::api::Peer;
use crate::trunks::{self, DidInput, TrunkInput, TrunkOut};
use crate::AppState;

const HERE: &str = "/admin/trunks";

/// The page's routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new().route(HERE, get(trunks_page).post(trunks_action))
}

/// The settings form of a trunk (`t`: the one being changed; none: a new one).
fn settings(id: &str, t: Option<&TrunkOut>) -> Markup {
    let text = |v: Option<&str>| v.unwrap_or("").to_string();
    let selected = |have: Option<&str>, this: &str, default: bool| match have {
        Some(h) => h == this,
        None => default,
    };
    let format = t.map(|t| t.number_format.as_str());
    let caller_id = t.map(|t| t.caller_id.as_str());
    let transport = t.map(|t| t.transport.as_str());
    let codec = |c: &str| t.is_some_and(|t| t.codecs.iter().any(|x| x == c));
    html! {
        @if t.is_none() {
            label for=(format!("{id}-name")) { "Name" }
            input id=(format!("{id}-name")) name="name" required pattern="[A-Za-z0-9._-]{1,32}"
                placeholder="carrier";
        }
        label for=(format!("{id}-host")) { "Carrier host (name or IP address)" }
        input id=(format!("{id}-host")) name="host" required value=(text(t.map(|t| t.host.as_str())));
        div.row {
            span {
                label for=(format!("{id}-port")) { "Port" }
                input id=(format!("{id}-port")) name="port" inputmode="numeric"
                    value=(t.map_or("5060".to_string(), |t| t.port.to_string()));
            }
            span {
                label for=(format!("{id}-transport")) { "Transport" }
                select id=(format!("{id}-transport")) name="transport" {
                    option value="udp" selected[selected(transport, "udp", true)] { "UDP" }
                    option value="tcp" selected[selected(transport, "tcp", false)] { "TCP" }
                }
            }
        }
        label for=(format!("{id}-proxy")) { "Outbound proxy (host or host:port; empty: none)" }
        input id=(format!("{id}-proxy")) name="proxy" value=(text(t.and_then(|t| t.proxy.as_deref())));
        label.check {
            input type="checkbox" name="register" value="on" checked[t.is_some_and(|t| t.register)];
            " Register to the carrier (needs a username and a password; otherwise an IP peer)"
        }
        label for=(format!("{id}-username")) { "Username (the account at the carrier)" }
        input id=(format!("{id}-username")) name="username" autocomplete="off"
            value=(text(t.and_then(|t| t.username.as_deref())));
        label for=(format!("{id}-auth")) { "Authentication username (when it differs)" }
        input id=(format!("{id}-auth")) name="auth_username" autocomplete="off"
            value=(text(t.and_then(|t| t.auth_username.as_deref())));
        label for=(format!("{id}-password")) {
            @if t.is_some_and(|t| t.password_set) { "New password (a password is set; leave empty to keep it)" }
            @else { "Password" }
        }
        input id=(format!("{id}-password")) name="password" type="password" autocomplete="new-password";
        @if t.is_some_and(|t| t.password_set) {
            label.check { input type="checkbox" name="clear_password" value="on"; " Clear the password" }
        }
        div.row {
            span {
                label for=(format!("{id}-expires")) { "Registration expiry (s)" }
                input id=(format!("{id}-expires")) name="expires" inputmode="numeric"
                    value=(t.map_or("3600".to_string(), |t| t.expires.to_string()));
            }
            span {
                label for=(format!("{id}-keepalive")) { "OPTIONS keep-alive (s, 0: off)" }
                input id=(format!("{id}-keepalive")) name="keepalive" inputmode="numeric"
                    value=(t.map_or("0".to_string(), |t| t.keepalive.to_string()));
            }
            span {
                label for=(format!("{id}-max")) { "Most calls at once (0: no limit)" }
                input id=(format!("{id}-max")) name="max_calls" inputmode="numeric"
                    value=(t.map_or("0".to_string(), |t| t.max_calls.to_string()));
            }
        }
        label for=(format!("{id}-peers")) { "Addresses its calls come from (IP peer; comma-separated)" }
        input id=(format!("{id}-peers")) name="peers" value=(t.map_or(String::new(), |t| t.peers.join(",")));
        div.row {
            span {
                label for=(format!("{id}-format")) { "Number format" }
                select id=(format!("{id}-format")) name="number_format" {
                    option value="e164" selected[selected(format, "e164", true)] { "E.164 (+15855550123)" }
                    option value="digits" selected[selected(format, "digits", false)] { "E.164 without + (15855550123)" }
                    option value="national" selected[selected(format, "national", false)] { "National (5855550123)" }
                }
            }
            span {
                label for=(format!("{id}-cid")) { "Caller ID header" }
                select id=(format!("{id}-cid")) name="caller_id" {
                    option value="from" selected[selected(caller_id, "from", true)] { "From" }
                    option value="pai" selected[selected(caller_id, "pai", false)] { "P-Asserted-Identity" }
                    option value="rpid" selected[selected(caller_id, "rpid", false)] { "Remote-Party-ID" }
                }
            }
        }
        fieldset.codecs {
            legend { "Codecs offered (none ticked: any)" }
            label.inline { input type="checkbox" name="codec" value="pcmu" checked[codec("pcmu")]; "G.711 µ-law (PCMU)" }
            label.inline { input type="checkbox" name="codec" value="pcma" checked[codec("pcma")]; "G.711 A-law (PCMA)" }
        }
        label for=(format!("{id}-patterns")) { "Numbers it carries (E.164 prefixes, comma-separated; empty: all)" }
        input id=(format!("{id}-patterns")) name="patterns" placeholder="+1585,+44"
            value=(t.map_or(String::new(), |t| t.patterns.join(",")));
        @if let Some(t) = t {
            label.check { input type="checkbox" name="enabled" value="on" checked[t.enabled]; " Enabled" }
        }
    }
}

async fn trunks_page(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let Some(sess) = session_of(&s, &headers) else {
        return to_login(HERE);
    };
    if !sess.who.has(Privilege::Admin) {
        return forbidden("trunks are for administrators");
    }
    if s.store.is_none() {
        return no_db();
    }
    let (Ok(list), Ok(dids)) = (trunks::list(&s).await, trunks::dids(&s).await) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "database error").into_response();
    };
    let body = html! {
        h1 { "Trunks" }
        section.card #trunks aria-labelledby="trunks-h" {
            h2 #trunks-h { "Outside lines" }
            @if list.is_empty() {
                p.empty { "No trunks yet: only extensions can be called." }
            } @else {
                table.grid.trunks {
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Kind" } th scope="col" { "Carrier" }
                        th scope="col" { "State" } th scope="col" { "Calls" }
                    } }
                    tbody {
                        @for t in &list {
                            tr.trunk #(format!("trunk-{}", t.name)) data-state=(t.state.clone().unwrap_or_default()) {
                                td data-label="Name" { (t.name) }
                                td data-label="Kind" { (t.kind) }
                                td data-label="Carrier" { (t.host) ":" (t.port) " " (t.transport) }
                                td.state data-label="State" {
                                    @match (&t.state, t.enabled) {
                                        (_, false) => { "disabled" }
                                        (None, true) => { "not running" }
                                        (Some(st), true) => { (st) }
                                    }
                                    @if let Some(r) = &t.reason { " — " (r) }
                                    @if let Some(e) = t.expires_in { " (expires in " (e) " s)" }
                                }
                                td data-label="Calls" { (t.calls) }
                            }
                        }
                    }
                }
                @for t in &list {
                    details #(format!("edit-{}", t.name)) {
                        summary { "Change " (t.name) }
                        form.stack method="post" action=(HERE) {
                            input type="hidden" name="csrf" value=(sess.csrf);
                            input type="hidden" name="trunk" value=(t.name);
                            (settings(&format!("t-{}", t.name), Some(t)))
                            div.actions {
                                button.primary name="act" value="update" { "Save " (t.name) }
                                button.danger name="act" value="remove"
                                    data-confirm=(format!("Remove trunk {}? Its registration at the carrier is removed.", t.name)) { "Remove" }
                            }
                        }
                    }
                }
            }
            h3 { "Add a trunk" }
            form.stack #add-trunk method="post" action=(HERE) {
                input type="hidden" name="csrf" value=(sess.csrf);
                (settings("new", None))
                button.primary name="act" value="add" { "Add trunk" }
            }
        }
        section.card #dids aria-labelledby="dids-h" {
            h2 #dids-h { "The company's numbers" }
            @if dids.is_empty() {
                p.empty { "No numbers yet: calls from the trunks go to the default destination." }
            } @else {
                form method="post" action=(HERE) {
                    input type="hidden" name="csrf" value=(sess.csrf);
                    table.grid.dids {
                        thead { tr { th scope="col" { "Number" } th scope="col" { "Goes to" } th scope="col" { "" } } }
                        tbody {
                            @for d in &dids {
                                tr.did {
                                    td data-label="Number" { (d.number) }
                                    td data-label="Goes to" {
                                        @if let Some(e) = &d.extension { "extension " (e) }
                                        @if let Some(m) = &d.mailbox { "mailbox " (m) " (its greeting)" }
                                    }
                                    td { button.danger name="remove_did" value=(d.number) { "Remove " (d.number) } }
                                }
                            }
                        }
                    }
                }
            }
            h3 { "Add or move a number" }
            form.stack #add-did method="post" action=(HERE) {
                input type="hidden" name="csrf" value=(sess.csrf);
                label for="did-number" { "Number (E.164)" }
                input #did-number name="number" required placeholder="+15855550101" pattern="\\+[0-9]{8,15}";
                label for="did-kind" { "Goes to" }
                select #did-kind name="kind" {
                    option value="extension" { "An extension (its phones, then its voicemail)" }
                    option value="mailbox" { "A mailbox (straight to its greeting)" }
                }
                label for="did-target" { "Extension or mailbox" }
                input #did-target name="target" required inputmode="numeric";
                button.primary name="act" value="did" { "Save number" }
            }
        }
    };
    html_response(StatusCode::OK, page("Trunks", Some(&sess), body))
}

/// A whole number from a form field, or the message saying why not.
fn number<T: std::str::FromStr>(
    f: &[(String, String)],
    name: &str,
    what: &str,
) -> Result<Option<T>, String> {
    match field(f, name).map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| {
            format!(
                "{what} must be a whole number, not {:?}",
                parley_core::text::printable(v)
            )
        }),
    }
}

/// The settings a trunk form posted.
fn input_of(f: &[(String, String)], adding: bool) -> Result<TrunkInput, String> {
    let text = |name: &str| field(f, name).map(str::to_string);
    let list = |name: &str| {
        field(f, name).map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
    };
    let on = |name: &str| field(f, name) == Some("on");
    let password = match (field(f, "password").unwrap_or(""), on("clear_password")) {
        ("", true) => Some(String::new()),
        ("", false) => None,
        (p, _) => Some(p.to_string()),
    };
    Ok(TrunkInput {
        name: if adding { text("name") } else { None },
        host: text("host"),
        port: number(f, "port", "the port")?,
        transport: text("transport"),
        proxy: text("proxy"),
        register: Some(on("register")),
        username: text("username"),
        auth_username: text("auth_username"),
        password,
        expires: number(f, "expires", "the expiry")?,
        peers: list("peers"),
        enabled: (!adding).then(|| on("enabled")),
        keepalive: number(f, "keepalive", "the keep-alive")?,
        number_format: text("number_format"),
        caller_id: text("caller_id"),
        max_calls: number(f, "max_calls", "the most calls")?,
        codecs: Some(
            f.iter()
                .filter(|(k, _)| k == "codec")
                .map(|(_, v)| v.clone())
                .collect(),
        ),
        patterns: list("patterns"),
    })
}

async fn trunks_action(
    State(s): State<AppState>,
    Peer(source): Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Posted {
        sess,
        fields: f,
        caller,
    } = match posted(&s, &headers, source, HERE, &body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if !sess.who.has(Privilege::Admin) {
        return forbidden("trunks are for administrators");
    }
    if s.store.is_none() {
        return no_db();
    }
    let ok = |text: String| flash_to(&s, &headers, false, text, HERE);
    let refused = |text: String| flash_to(&s, &headers, true, text, HERE);
    if let Some(number) = field(&f, "remove_did") {
        return match trunks::remove_did(&s, &caller, number).await {
            Ok(()) => ok(format!("Removed {number}.")),
            Err(e) => refused(format!("{number} not removed: {}.", e.message())),
        };
    }
    let name = field(&f, "trunk").unwrap_or("").to_string();
    match field(&f, "act").unwrap_or("") {
        "add" => {
            let input = match input_of(&f, true) {
                Ok(i) => i,
                Err(e) => return refused(format!("Not added: {e}.")),
            };
            match trunks::add(&s, &caller, &input).await {
                Ok(t) => ok(format!("Added trunk {} ({}).", t.name, t.kind)),
                Err(e) => refused(format!("Not added: {}.", e.message())),
            }
        }
        "update" => {
            let input = match input_of(&f, false) {
                Ok(i) => i,
                Err(e) => return refused(format!("{name} not changed: {e}.")),
            };
            match trunks::update(&s, &caller, &name, &input).await {
                Ok(_) => ok(format!("Saved {name}.")),
                Err(e) => refused(format!("{name} not changed: {}.", e.message())),
            }
        }
        "remove" => match trunks::remove(&s, &caller, &name).await {
            Ok(()) => ok(format!("Removed trunk {name}.")),
            Err(e) => refused(format!("{name} not removed: {}.", e.message())),
        },
        "did" => {
            let number = field(&f, "number").unwrap_or("").trim().to_string();
            let target = field(&f, "target").map(|t| t.trim().to_string());
            let input = match field(&f, "kind") {
                Some("mailbox") => DidInput {
                    extension: None,
                    mailbox: target,
                },
                _ => DidInput {
                    extension: target,
                    mailbox: None,
                },
            };
            match trunks::set_did(&s, &caller, &number, &input).await {
                Ok(d) => ok(match (d.extension, d.mailbox) {
                    (Some(e), _) => format!("Calls to {number} ring extension {e}."),
                    (_, Some(m)) => format!("Calls to {number} go to mailbox {m}'s greeting."),
                    _ => format!("Saved {number}."),
                }),
                Err(e) => refused(format!("{number} not saved: {}.", e.message())),
            }
        }
        _ => refused("Nothing to do.".into()),
    }
}
