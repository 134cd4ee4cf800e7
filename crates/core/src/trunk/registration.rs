//! Parley registering to a carrier (RFC 3261 §10 from the client's side), without IO: the REGISTERs
//! to send come out of [`Registration::poll_request`], the carrier's answers go in with
//! [`Registration::handle_response`], and [`Registration::poll_timeout`] says when to call
//! [`Registration::handle_timeout`] (the refresh before expiry, or the retry after a failure).
//!
//! A digest challenge (401/407) is answered once per nonce, with `qop=auth` and a growing nonce count
//! when the carrier offers it; the nonce is kept for the refreshes (a carrier that wants a new one
//! says `stale=true`). A second challenge for a nonce already answered means the credentials are wrong:
//! the registration fails, says why, and tries again after a back-off that doubles up to a limit
//! (`Retry-After` is honoured). A 423 takes the carrier's `Min-Expires`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::ids::Ids;
use crate::sip::digest::{Challenge, ClientSecret};
use crate::sip::{Headers, Method, Request, Response, SipUri};
use crate::target::Transport;

/// What a registration needs to know: who registers, where, and how often.
#[derive(Debug, Clone)]
pub struct RegistrationConfig {
    /// The registrar's URI (the Request-URI, e.g. `sip:sip.carrier.example`).
    pub registrar: SipUri,
    /// The account at the carrier (the user of the To and From URIs).
    pub username: String,
    /// The digest username, when the carrier's differs from the account.
    pub auth_username: Option<String>,
    /// The digest password.
    pub secret: ClientSecret,
    /// The expiry asked for.
    pub expires: Duration,
    /// The first wait after a failure; each further failure doubles it.
    pub retry_first: Duration,
    /// The longest wait after failures.
    pub retry_max: Duration,
    /// Parley's Contact (`<sip:user@host:port>`), where the carrier sends calls.
    pub contact: String,
    /// Parley's Via sent-by (`host:port`).
    pub via_host: String,
    /// The transport.
    pub transport: Transport,
}

/// Where a registration stands, as `parley trunk status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegState {
    /// Not started, or stopped.
    Unregistered,
    /// A REGISTER is on its way (the first, or after a failure).
    Registering,
    /// The carrier accepted it until `until`.
    Registered {
        /// When the binding expires if not refreshed.
        until: Instant,
    },
    /// The last attempt failed; the next is at `retry_at`.
    Failed {
        /// What the carrier said (`403 Forbidden`, `wrong credentials`, `no answer`).
        reason: String,
        /// When it tries again.
        retry_at: Instant,
    },
}

/// How many challenges (and 423s) one attempt answers before it gives up on it.
const MAX_CHALLENGES: u32 = 2;
/// The shortest grant taken as it is (a shorter one is refreshed as if it were this long: never a
/// REGISTER every half second).
const MIN_GRANT: Duration = Duration::from_secs(10);
/// The longest expiry asked for or taken (a day).
const MAX_GRANT: Duration = Duration::from_secs(86_400);

/// One registration to one carrier account. See the module documentation.
#[derive(Debug)]
pub struct Registration {
    config: RegistrationConfig,
    ids: Ids,
    call_id: String,
    from_tag: String,
    cseq: u32,
    /// The expiry asked for (the configured one, or the carrier's `Min-Expires`).
    expires: Duration,
    /// The expiry the carrier granted last.
    granted: Option<Duration>,
    state: RegState,
    /// The challenge answered last, and the nonce count used with it.
    challenge: Option<(Challenge, bool, u32)>,
    /// Challenges answered in this attempt.
    challenges: u32,
    /// The CSeq of the REGISTER waiting for its answer.
    waiting: Option<u32>,
    /// Whether the one waiting removes the binding (`Expires: 0`).
    removing: bool,
    failures: u32,
    next: Option<Instant>,
    out: VecDeque<Request>,
}

impl Registration {
    /// A registration that starts when [`Registration::start`] is called; `seed` makes its tags,
    /// branches and client nonces.
    pub fn new(config: RegistrationConfig, seed: u64) -> Registration {
        let mut ids = Ids::new(seed);
        let (call_id, from_tag) = (ids.call_id(), ids.tag());
        let expires = config.expires.clamp(Duration::from_secs(1), MAX_GRANT);
        Registration {
            config,
            ids,
            call_id,
            from_tag,
            cseq: 0,
            expires,
            granted: None,
            state: RegState::Unregistered,
            challenge: None,
            challenges: 0,
            waiting: None,
            removing: false,
            failures: 0,
            next: None,
            out: VecDeque::new(),
        }
    }

    /// Register now.
    pub fn start(&mut self, now: Instant) {
        self.state = RegState::Registering;
        self.send(now, false);
    }

    /// Whether `config` registers the same binding as this registration (the same registrar, account,
    /// Contact and transport), so that [`Registration::reconfigure`] can take it in place.
    pub fn same_binding(&self, config: &RegistrationConfig) -> bool {
        let c = &self.config;
        c.registrar == config.registrar
            && c.username == config.username
            && c.contact == config.contact
            && c.transport == config.transport
    }

    /// Take new settings for the same binding (a new password, expiry or retry times) and register
    /// with them now, in the same dialog (Call-ID, next CSeq), as RFC 3261 §10.2.4 asks of refreshes:
    /// the carrier replaces the binding, nothing is removed. A REGISTER on its way is overtaken, a
    /// failure's back-off forgotten, and the challenge answered last dropped (it was answered with
    /// the old credentials).
    pub fn reconfigure(&mut self, now: Instant, config: RegistrationConfig) {
        self.expires = config.expires.clamp(Duration::from_secs(1), MAX_GRANT);
        self.config = config;
        self.challenge = None;
        self.challenges = 0;
        self.failures = 0;
        self.next = None;
        self.state = RegState::Registering;
        self.send(now, false);
    }

    /// Remove the binding (`Expires: 0`) and stop refreshing it. A REGISTER still on its way is
    /// overtaken: the removal has the higher CSeq, and the answer to the older one is ignored.
    pub fn stop(&mut self, now: Instant) {
        let was = std::mem::replace(&mut self.state, RegState::Unregistered);
        self.next = None;
        self.challenges = 0;
        if matches!(was, RegState::Registered { .. } | RegState::Registering) {
            self.send(now, true);
        }
    }

    /// Where it stands.
    pub fn state(&self) -> &RegState {
        &self.state
    }

    /// The expiry asked for.
    pub fn expires(&self) -> Duration {
        self.expires
    }

    /// The expiry the carrier granted last (bounded to ten seconds .. a day).
    pub fn granted(&self) -> Option<Duration> {
        self.granted
    }

    /// Whether nothing is on its way or due: no REGISTER waiting for its answer, none to send, no timer
    /// (a stopped registration whose removal was answered, or that had nothing to remove).
    pub fn is_idle(&self) -> bool {
        self.waiting.is_none() && self.next.is_none() && self.out.is_empty()
    }

    /// The next REGISTER to send (to the trunk's address, in a client transaction of its own).
    pub fn poll_request(&mut self) -> Option<Request> {
        self.out.pop_front()
    }

    /// When [`Registration::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }

    /// Time is `now`: refresh or retry when due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.next.is_some_and(|t| t <= now) {
            self.next = None;
            if matches!(self.state, RegState::Failed { .. }) {
                self.state = RegState::Registering;
            }
            self.send(now, false);
        }
    }

    /// The REGISTER's transaction ended without an answer (timeout or transport failure).
    pub fn handle_failed(&mut self, now: Instant) {
        if self.waiting.take().is_some() && !self.removing {
            self.fail(now, "no answer from the registrar".into(), None);
        }
    }

    /// An answer to a REGISTER sent by this registration (others are ignored).
    pub fn handle_response(&mut self, now: Instant, response: &Response) {
        let code = response.status.as_u16();
        if code < 200 {
            return;
        }
        let cseq = response.headers.cseq().map(|(n, _)| n);
        if cseq.is_none()
            || cseq != self.waiting
            || response.headers.get("Call-ID") != Some(self.call_id.as_str())
        {
            return;
        }
        self.waiting = None;
        if self.removing && !matches!(code, 401 | 407) {
            // Removed, or refused: either way nothing is refreshed any more.
            self.removing = false;
            return;
        }
        match code {
            200..=299 => {
                let granted = granted(response, &self.config.contact)
                    .unwrap_or(self.expires)
                    .clamp(MIN_GRANT, MAX_GRANT);
                self.granted = Some(granted);
                self.failures = 0;
                self.challenges = 0;
                self.state = RegState::Registered {
                    until: now + granted,
                };
                self.next = Some(now + refresh_after(granted));
            }
            401 | 407 => {
                let header = if code == 401 {
                    "WWW-Authenticate"
                } else {
                    "Proxy-Authenticate"
                };
                let Some(ch) = Challenge::choose(response.headers.get_all(header)) else {
                    return self.fail(
                        now,
                        format!("{code} with no challenge Parley can answer"),
                        None,
                    );
                };
                let answered_before = self
                    .challenge
                    .as_ref()
                    .is_some_and(|(c, _, _)| c.nonce == ch.nonce);
                self.challenges += 1;
                let refused = (answered_before && !ch.stale) || self.challenges > MAX_CHALLENGES;
                if self.removing {
                    // The removal is answered once; refused again, the binding expires on its own.
                    self.removing = false;
                    if !refused {
                        self.challenge = Some((ch, code == 407, 0));
                        self.send(now, true);
                    }
                    return;
                }
                if refused {
                    return self.fail(
                        now,
                        "wrong credentials (the carrier refused them)".into(),
                        None,
                    );
                }
                self.challenge = Some((ch, code == 407, 0));
                self.send(now, false);
            }
            423 => {
                self.challenges += 1;
                match response
                    .headers
                    .get("Min-Expires")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs)
                    .filter(|&m| m > self.expires && m <= MAX_GRANT)
                {
                    Some(min) if self.challenges <= MAX_CHALLENGES => {
                        self.expires = min;
                        self.send(now, false);
                    }
                    _ => self.fail(now, "423 without a usable Min-Expires".into(), None),
                }
            }
            _ => {
                let retry_after = response
                    .headers
                    .get("Retry-After")
                    .and_then(|v| v.split([';', '(']).next()?.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let reason = format!(
                    "{code} {}",
                    response.reason.chars().take(80).collect::<String>()
                );
                self.fail(now, reason, retry_after);
            }
        }
    }

    fn fail(&mut self, now: Instant, reason: String, retry_after: Option<Duration>) {
        self.failures += 1;
        self.challenges = 0;
        self.challenge = None;
        let doubled = self
            .config
            .retry_first
            .saturating_mul(1 << (self.failures - 1).min(16));
        let wait = retry_after.unwrap_or(doubled).clamp(
            self.config.retry_first,
            self.config.retry_max.max(self.config.retry_first),
        );
        let retry_at = now + wait;
        self.state = RegState::Failed { reason, retry_at };
        self.next = Some(retry_at);
    }

    fn send(&mut self, _now: Instant, remove: bool) {
        self.cseq += 1;
        let c = &self.config;
        let aor = SipUri {
            user: Some(c.username.clone()),
            port: None,
            params: String::new(),
            headers: String::new(),
            ..c.registrar.clone()
        };
        let mut headers = Headers::default();
        headers.push(
            "Via",
            &super::via(c.transport, &c.via_host, &self.ids.branch()),
        );
        headers.push("Max-Forwards", "70");
        headers.push("From", &format!("<{aor}>;tag={}", self.from_tag));
        headers.push("To", &format!("<{aor}>"));
        headers.push("Call-ID", &self.call_id);
        headers.push("CSeq", &format!("{} REGISTER", self.cseq));
        headers.push("Contact", &c.contact);
        let expires = if remove { 0 } else { self.expires.as_secs() };
        headers.push("Expires", &expires.to_string());
        let uri = c.registrar.to_string();
        if let Some((ch, proxy, nc)) = self.challenge.as_mut() {
            *nc += 1;
            let cnonce = format!("{:016x}", self.ids.next_u64());
            let user = c.auth_username.as_deref().unwrap_or(&c.username);
            let value = ch.answer(user, &c.secret, "REGISTER", &uri, *nc, &cnonce);
            let name = if *proxy {
                "Proxy-Authorization"
            } else {
                "Authorization"
            };
            headers.push(name, &value);
        }
        headers.push("Content-Length", "0");
        self.waiting = Some(self.cseq);
        self.removing = remove;
        self.out.push_back(Request {
            method: Method::Register,
            uri: c.registrar.clone(),
            headers,
            body: Vec::new(),
        });
    }
}

/// The expiry a 200 grants: the `expires` of our Contact among those it lists, else its Expires header.
fn granted(response: &Response, contact: &str) -> Option<Duration> {
    let ours = crate::sip::header::NameAddr::parse(contact).map(|n| n.uri);
    let from_contact = response
        .headers
        .get_all("Contact")
        .into_iter()
        .flat_map(crate::sip::header::split_list)
        .filter_map(crate::sip::header::NameAddr::parse)
        .find(|n| {
            ours.as_ref().is_some_and(|o| {
                n.uri.user == o.user
                    && n.uri.host.eq_ignore_ascii_case(&o.host)
                    && n.uri.port == o.port
            })
        })
        .and_then(|n| n.param("expires").and_then(|e| e.parse::<u64>().ok()));
    from_contact
        .or_else(|| response.headers.get("Expires")?.trim().parse().ok())
        .map(Duration::from_secs)
}

/// How long after a grant of `expires` the binding is refreshed: half of it for short grants, a
/// minute before the end for long ones.
fn refresh_after(expires: Duration) -> Duration {
    expires - (expires / 2).min(Duration::from_secs(60))
}

#[cfg(test)]
pub(crate) mod tests;
