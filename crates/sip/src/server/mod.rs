//! The SIP server's shell: one task that owns the registrar and every call's state machine, feeds them
//! what the adapter receives, and carries out what they ask (send SIP, start and steer relays). The
//! decisions live in `parley_core`; this file only routes, authenticates against the store, and times.

mod contain;
mod mwi;
mod voicemail;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use parley_core::call::{
    Call, CallConfig, CallEvent, ForkTarget, LocalAddr, NewCall, Output, Side,
};
use parley_core::guard::{AuthGuard, Lockout};
pub use parley_core::limits::Limits;
use parley_core::limits::Refusal;
use parley_core::registrar::{Registrar, RegistrarConfig};
use parley_core::sip::digest::{Credentials, DigestAuth, RequestLine, Verdict};
use parley_core::sip::{Method, Request, Response};
use parley_core::target::Target;
use parley_core::text::Printable;
use parley_core::vm::Reason;
use parley_store::{CallRecord, Outcome, Store};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, info_span, warn, Instrument, Span};

use crate::adapter::{Adapter, AdapterError, Inbound, TxId};
use crate::media::MediaEvent;
use crate::prompts::Prompts;
use crate::relay::{PortRange, Relay};
use crate::status::{CallView, LockoutView, RegistrationView, Status, StatusHandle};
pub use voicemail::VmSettings;
use voicemail::{VmEntry, VmKind, Work};

/// Settings of the SIP server.
#[derive(Debug, Clone)]
pub struct SipConfig {
    /// Where SIP listens (UDP and TCP).
    pub listen: SocketAddr,
    /// The address written into Via, Contact and SDP.
    pub public_ip: IpAddr,
    /// RTP port range (inclusive).
    pub rtp_ports: (u16, u16),
    /// How long a callee rings before the call gives up.
    pub no_answer: Duration,
    /// Registration expiry limits.
    pub registrar: RegistrarConfig,
    /// Digest nonce lifetime.
    pub nonce_ttl: Duration,
    /// Digest algorithms offered, in order.
    pub algorithms: Vec<parley_core::sip::digest::Algorithm>,
    /// Accept digest responses without `qop` (RFC 2069 phones); each nonce then serves one request.
    pub dangerous_digest_rfc2069: bool,
    /// Brute-force lockout settings for digest authentication.
    pub guard: parley_core::guard::GuardConfig,
    /// Whether a callee already in a call is rung again (its phone may then refuse with 486); when
    /// false, Parley answers 486 itself.
    pub call_waiting: bool,
    /// Voicemail.
    pub vm: VmSettings,
    /// Bounds on what one account or address may hold at once.
    pub limits: Limits,
    /// Bounds of the transports (TCP connections, their idle timeout).
    pub transport: crate::adapter::TransportLimits,
}

/// Requests to the running server from the HTTP side or the command line.
#[derive(Debug)]
pub enum Control {
    /// "MWI calibrate": force the message-waiting lamp of a mailbox's phones on or off; answers the
    /// number of phones notified.
    SetLamp {
        /// Mailbox.
        mailbox: String,
        /// Lamp on or off.
        on: bool,
        /// Reply.
        reply: oneshot::Sender<usize>,
    },
    /// A mailbox changed outside the phone menus: re-announce its counts.
    MailboxChanged(String),
    /// An account was removed: its registrations and message-waiting subscriptions go now, not when
    /// they would lapse.
    AccountRemoved(String),
    /// Lift the lockouts of an account, mailbox or address (SIP digest and voicemail PIN guards);
    /// answers whether anything was locked or counted.
    Unlock {
        /// An extension or an IP address.
        what: String,
        /// Reply.
        reply: oneshot::Sender<bool>,
    },
}

struct CallEntry {
    call: Call,
    relay: Relay,
    span: Span,
    started: Instant,
    /// Wall-clock start, for the call record.
    started_unix: u64,
    caller_name: Option<String>,
    answered_at: Option<Instant>,
    /// The final status the caller saw.
    end_status: u16,
    /// Handed to voicemail: the voicemail call writes the record.
    diverted: bool,
}

enum ClientRoute {
    Call {
        call: u64,
        side: Side,
        request: Request,
    },
    Notify {
        call_id: String,
    },
    Transfer {
        session: u64,
    },
    Ignore,
}

struct Server {
    config: SipConfig,
    adapter: Adapter,
    store: Store,
    auth: DigestAuth,
    registrar: Registrar,
    guard: AuthGuard,
    ports: PortRange,
    calls: HashMap<u64, CallEntry>,
    by_call_id: HashMap<String, (u64, Side)>,
    server_txs: HashMap<TxId, u64>,
    client_txs: HashMap<TxId, ClientRoute>,
    next_call: u64,
    status: StatusHandle,
    sessions: HashMap<u64, VmEntry>,
    media_events: mpsc::UnboundedSender<(u64, MediaEvent)>,
    work: mpsc::UnboundedSender<Work>,
    prompts: Prompts,
    vm_profile: parley_core::vm::profile::Profile,
    pin_guard: AuthGuard,
    mwi: mwi::Mwi,
    diverted: Vec<Diverted>,
    /// After a timer's handling faulted: no timer fires before this.
    timers_paused_until: Option<Instant>,
}

/// A call handed to voicemail, waiting to be answered by it.
struct Diverted {
    leg: parley_core::call::ALeg,
    caller: String,
    callee: String,
    busy: bool,
    /// When the call started (wall clock, monotonic), for the call record.
    since: (u64, Instant),
}

/// Start the SIP server; it runs until `cancel` fires, then ends calls in progress with BYE.
pub async fn run(
    config: SipConfig,
    store: Store,
    status: StatusHandle,
    mut control: mpsc::UnboundedReceiver<Control>,
    cancel: CancellationToken,
) -> Result<(), AdapterError> {
    let (adapter, mut inbound) = Adapter::start(
        config.listen,
        config.transport.clone(),
        cancel.child_token(),
    )
    .await?;
    let (media_events, mut media_rx) = mpsc::unbounded_channel();
    let (work, mut work_rx) = mpsc::unbounded_channel();
    let key: [u8; 32] = rand::random();
    let realm = parley_store::SIP_REALM;
    let mut server = Server {
        auth: DigestAuth::new(
            realm,
            &key,
            config.nonce_ttl.as_secs(),
            config.algorithms.clone(),
        )
        .dangerous_allow_rfc2069(config.dangerous_digest_rfc2069),
        registrar: Registrar::new(config.registrar.clone()),
        guard: AuthGuard::new(config.guard.clone()),
        ports: PortRange::new(
            config.public_ip_bind(),
            config.rtp_ports.0,
            config.rtp_ports.1,
        ),
        adapter,
        store,
        calls: HashMap::new(),
        by_call_id: HashMap::new(),
        server_txs: HashMap::new(),
        client_txs: HashMap::new(),
        next_call: 1,
        status,
        sessions: HashMap::new(),
        media_events,
        work,
        prompts: Prompts::new(config.vm.prompts.clone()),
        vm_profile: parley_core::vm::profile::classic(),
        pin_guard: voicemail::pin_guard(&config.vm),
        mwi: mwi::Mwi::default(),
        diverted: Vec::new(),
        timers_paused_until: None,
        config,
    };
    server.recover_recordings().await;
    info!(listen = %server.config.listen, public_ip = %server.config.public_ip, "SIP server listening on UDP and TCP");
    let mut refresh = tokio::time::interval(Duration::from_secs(1));
    loop {
        let deadline = server.next_deadline();
        tokio::select! {
            _ = cancel.cancelled() => break,
            // Relay counters move without SIP events: refresh the status while calls are up.
            _ = refresh.tick(), if !server.calls.is_empty() || !server.sessions.is_empty() => server.publish_status(),
            msg = inbound.recv() => {
                let Some(msg) = msg else { break };
                // A new request is kept aside, so that it can be answered 500 should its handling fault.
                let request = match &msg {
                    Inbound::Request { tx, request, .. } => Some((*tx, request.clone())),
                    _ => None,
                };
                if let Some(fault) = contain::contained(server.handle(msg)).await {
                    server.request_faulted(request, &fault);
                }
            }
            Some((id, ev)) = media_rx.recv() => {
                if let Some(fault) = contain::contained(server.vm_media_event(id, ev)).await {
                    server.child_faulted(Some(id), "media event", &fault);
                }
            }
            Some(w) = work_rx.recv() => {
                let id = w.session();
                if let Some(fault) = contain::contained(server.vm_work(w)).await {
                    server.child_faulted(id, "background work", &fault);
                }
            }
            Some(c) = control.recv() => {
                if let Some(fault) = contain::contained(server.control(c)).await {
                    error!(fault = %fault, "an administrator's request faulted; the server goes on");
                }
            }
            _ = sleep_until(deadline) => {
                if let Some(fault) = contain::contained(server.handle_timeouts()).await {
                    server.timers_faulted(&fault);
                }
            }
        }
        if let Some(fault) = contain::contained(server.start_diverted()).await {
            error!(fault = %fault, "handing a call to voicemail faulted; the server goes on");
        }
    }
    server.shutdown().await;
    Ok(())
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

impl SipConfig {
    fn public_ip_bind(&self) -> IpAddr {
        if self.listen.ip().is_unspecified() {
            self.listen.ip()
        } else {
            self.public_ip
        }
    }
}

#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

#[allow(clippy::disallowed_methods)]
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

enum Auth {
    Ok(String),
    Challenged,
}

impl Server {
    fn next_deadline(&self) -> Option<Instant> {
        self.due_timers()
            .map(|d| self.timers_paused_until.map_or(d, |p| d.max(p)))
    }

    fn due_timers(&self) -> Option<Instant> {
        let calls = self
            .calls
            .values()
            .filter_map(|c| c.call.poll_timeout().map(|t| t.0));
        let sessions = self.sessions.values().filter_map(|e| e.session_timeout());
        calls
            .chain(sessions)
            .chain(self.registrar.poll_timeout().map(|t| t.0))
            .chain(self.mwi.next_expiry())
            .min()
    }

    fn local_addr(&self) -> LocalAddr {
        LocalAddr {
            host: self.config.public_ip.to_string(),
            port: self.config.listen.port(),
        }
    }

    /// Answer a request a bound refused (`to_tag`: the one its dialog already has, if any).
    fn refuse(&self, tx: TxId, req: &Request, to_tag: Option<&str>, refusal: Refusal) {
        let tag = to_tag.map_or_else(tag, str::to_string);
        let mut r = Response::to_request(req, refusal.status, Some(&tag));
        r.reason = refusal.reason.into();
        if let Some(secs) = refusal.retry_after {
            r.headers.push("Retry-After", &secs.to_string());
        }
        self.adapter.respond(tx, &r);
    }

    /// Handling a SIP message panicked: answer it 500 if it was a new request; everything else goes on.
    fn request_faulted(&mut self, request: Option<(TxId, Request)>, fault: &str) {
        let call_id = request.as_ref().map(|(_, r)| r.call_id().to_string());
        error!(call_id = call_id.as_deref().unwrap_or("-"), fault = %fault, "handling one SIP message faulted; it was answered 500 and the server goes on");
        if let Some((tx, req)) = request.filter(|(_, r)| r.method != Method::Ack) {
            self.adapter
                .respond(tx, &Response::to_request(&req, 500, Some(&tag())));
        }
        self.publish_status();
    }

    /// Handling input for a call or voicemail session (`id`, when the input names one) faulted: that
    /// call is forgotten (its relay or media task ends with it), the rest goes on.
    fn child_faulted(&mut self, id: Option<u64>, what: &str, fault: &str) {
        match id {
            Some(id) => {
                error!(id, what, fault = %fault, "a call faulted and was dropped; the server goes on");
                self.forget(id);
            }
            None => {
                error!(what, fault = %fault, "handling background work faulted; the server goes on")
            }
        }
        self.publish_status();
    }

    /// A timer's handling faulted: the calls and sessions whose timers were due are dropped, so that
    /// the same fault cannot fire again and again.
    fn timers_faulted(&mut self, fault: &str) {
        let t = now();
        let due: Vec<u64> = self
            .calls
            .iter()
            .filter(|(_, c)| c.call.poll_timeout().is_some_and(|(d, _)| d <= t))
            .map(|(id, _)| *id)
            .chain(
                self.sessions
                    .iter()
                    .filter(|(_, e)| e.session_timeout().is_some_and(|d| d <= t))
                    .map(|(id, _)| *id),
            )
            .collect();
        error!(fault = %fault, calls = due.len(), "a timer's handling faulted; the calls it was due for were dropped");
        for id in due {
            self.forget(id);
        }
        // If the fault was elsewhere (registrations, subscriptions), timers wait a second before they
        // are tried again, so that the same fault cannot spin the loop.
        self.timers_paused_until = Some(t + Duration::from_secs(1));
        self.publish_status();
    }

    fn forget(&mut self, id: u64) {
        self.calls.remove(&id);
        self.sessions.remove(&id);
        self.by_call_id.retain(|_, (c, _)| *c != id);
        self.server_txs.retain(|_, c| *c != id);
    }

    async fn control(&mut self, c: Control) {
        match c {
            Control::SetLamp { mailbox, on, reply } => {
                let n = self.mwi_send(&mailbox, Some(on)).await;
                info!(mailbox = %mailbox, on, phones = n, "message-waiting lamp set by the administrator");
                let _ = reply.send(n);
            }
            Control::MailboxChanged(m) => self.mwi_update(&m).await,
            Control::AccountRemoved(ext) => {
                let had = self.registrar.forget(&ext);
                self.mwi.forget_mailbox(&ext);
                info!(extension = %Printable(&ext), registrations = had, "account removed: its registrations and subscriptions dropped");
                self.publish_status();
            }
            Control::Unlock { what, reply } => {
                let sip = self.guard.unlock(&what);
                let pin = self.pin_guard.unlock(&what);
                info!(what = %what, "lockout lifted by the administrator");
                let _ = reply.send(sip || pin);
                self.publish_status();
            }
        }
    }

    /// Messages whose recording was cut by a crash: fix their WAV headers and make them visible.
    async fn recover_recordings(&mut self) {
        let Ok(list) = self.store.unfinished_messages().await else {
            return;
        };
        let min_ms = self.config.vm.menus.min_message.as_millis() as u64;
        for (id, mailbox) in list {
            let path = self.store.message_path(&mailbox, id);
            let samples = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(parley_media::wav::WavError::from)
                .and_then(|mut f| {
                    let n = parley_media::wav::recover(&mut f)?;
                    f.sync_all()?;
                    Ok(n)
                });
            match samples {
                Ok(n) if n / 8 >= min_ms => {
                    let folder = match self.store.mailbox_settings(&mailbox).await {
                        Ok(s) if s.mark_read => "old",
                        _ => "new",
                    };
                    let _ = self.store.finish_message(id, (n / 8) as i64, folder).await;
                    info!(message = id, mailbox = %mailbox, ms = n / 8, "recovered a message cut short by a stop of Parley");
                }
                other => {
                    info!(message = id, mailbox = %mailbox, result = ?other.map(|n| n / 8).map_err(|e| e.to_string()), "dropped an unfinished recording (too short or unreadable)");
                    let _ = self.store.delete_message(id).await;
                }
            }
        }
    }

    async fn handle_timeouts(&mut self) {
        let now = now();
        self.mwi.expire(now);
        self.vm_timeouts(now).await;
        if !self.registrar.expire(now).is_empty() {
            self.publish_status();
        }
        let due: Vec<u64> = self
            .calls
            .iter()
            .filter(|(_, c)| c.call.poll_timeout().is_some_and(|(t, _)| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(c) = self.calls.get_mut(&id) {
                c.call.handle_timeout(now);
            }
            self.drive(id);
        }
    }

    async fn handle(&mut self, msg: Inbound) {
        match msg {
            Inbound::Request {
                tx,
                request,
                source,
            } => self.handle_request(tx, request, source).await,
            Inbound::InTransaction { tx, request } => {
                if let Some(&id) = self.server_txs.get(&tx) {
                    if let Some(c) = self.calls.get_mut(&id) {
                        let _g = c.span.clone().entered();
                        c.call.handle_request(now(), Side::A, tx, &request);
                        drop(_g);
                        self.drive(id);
                    } else if self.sessions.contains_key(&id) {
                        self.vm_request(id, tx, &request).await;
                    }
                }
            }
            Inbound::ServerDone { tx } => {
                self.server_txs.remove(&tx);
            }
            Inbound::Response { tx, response } => match self.client_txs.get(&tx) {
                Some(ClientRoute::Call { call, side, .. }) => {
                    let (id, side) = (*call, *side);
                    if let Some(c) = self.calls.get_mut(&id) {
                        let _g = c.span.clone().entered();
                        c.call.handle_response(now(), side, &response);
                    }
                    self.drive(id);
                }
                Some(ClientRoute::Notify { call_id }) => {
                    let cid = call_id.clone();
                    self.notify_failed(&cid, response.status);
                }
                Some(ClientRoute::Transfer { session }) if response.status >= 200 => {
                    let id = *session;
                    self.transfer_result(id, response.status).await;
                }
                _ => {}
            },
            Inbound::ClientDone { tx, final_seen } => {
                let route = self.client_txs.remove(&tx);
                if let Some(ClientRoute::Notify { call_id }) = &route {
                    if !final_seen {
                        self.notify_failed(call_id, 408);
                    }
                }
                if let Some(ClientRoute::Transfer { session }) = &route {
                    if !final_seen {
                        self.transfer_result(*session, 408).await;
                    }
                }
                if let Some(ClientRoute::Call {
                    call,
                    side,
                    request,
                }) = route
                {
                    if !final_seen {
                        // Timeout or transport failure: as if the peer had answered 408.
                        let resp = Response::to_request(&request, 408, Some("timeout"));
                        if let Some(c) = self.calls.get_mut(&call) {
                            c.call.handle_response(now(), side, &resp);
                        }
                        self.drive(call);
                    }
                }
            }
        }
    }

    async fn handle_request(&mut self, tx: TxId, req: Request, source: Target) {
        let has_to_tag = req.headers.to().is_some_and(|t| t.tag().is_some());
        match req.method {
            Method::Register => self.handle_register(tx, &req, source).await,
            Method::Options if !has_to_tag => {
                let mut r = Response::to_request(&req, 200, Some(&tag()));
                r.headers.push("Allow", ALLOW);
                r.headers.push("Accept", "application/sdp");
                self.adapter.respond(tx, &r);
            }
            Method::Invite if !has_to_tag => self.handle_invite(tx, req, source).await,
            Method::Ack => {}
            _ if has_to_tag || matches!(req.method, Method::Bye | Method::Cancel) => {
                let known = self.by_call_id.get(req.call_id()).copied();
                // A Call-ID is no secret: the request must carry the dialog's tags and come from
                // that leg's own party, or it acts on nothing.
                let stranger = known.is_some_and(|(id, side)| {
                    let ip = source.addr.ip();
                    match (self.sessions.get(&id), self.calls.get(&id)) {
                        (Some(e), _) => !e.accepts(&req, ip),
                        (None, Some(c)) => !c.call.accepts(side, &req, ip),
                        (None, None) => false,
                    }
                });
                if stranger {
                    info!(%source, method = %req.method, call_id = %Printable(req.call_id()), "in-dialog request refused: not from the dialog's party");
                    self.adapter
                        .respond(tx, &Response::to_request(&req, 481, None));
                    return;
                }
                match known {
                    Some((id, _)) if self.sessions.contains_key(&id) => {
                        self.vm_request(id, tx, &req).await
                    }
                    Some((id, side)) => {
                        if let Some(c) = self.calls.get_mut(&id) {
                            let _g = c.span.clone().entered();
                            c.call.handle_request(now(), side, tx, &req);
                        }
                        self.drive(id);
                    }
                    None if req.method == Method::Subscribe => {
                        self.handle_subscribe(tx, &req, source).await
                    }
                    None => self
                        .adapter
                        .respond(tx, &Response::to_request(&req, 481, None)),
                }
            }
            Method::Subscribe => self.handle_subscribe(tx, &req, source).await,
            Method::Message | Method::Publish | Method::Refer | Method::Notify => {
                // Nothing is accepted from strangers: authenticate first, then say what is not supported yet.
                if let Auth::Ok(_) = self.authenticate(tx, &req, source, true).await {
                    let mut r = Response::to_request(&req, 405, Some(&tag()));
                    r.headers.push("Allow", ALLOW);
                    self.adapter.respond(tx, &r);
                }
            }
            _ => {
                let mut r = Response::to_request(&req, 405, Some(&tag()));
                r.headers.push("Allow", ALLOW);
                self.adapter.respond(tx, &r);
            }
        }
    }

    /// Digest-authenticate `req`; on failure the challenge (or 403) has been sent.
    async fn authenticate(&mut self, tx: TxId, req: &Request, source: Target, proxy: bool) -> Auth {
        let header = if proxy {
            "Proxy-Authorization"
        } else {
            "Authorization"
        };
        let creds = req
            .headers
            .get_all(header)
            .into_iter()
            .filter_map(|h| Credentials::parse(h).ok())
            .find(|c| c.realm == self.auth.realm());
        let now = now();
        let ip = source.addr.ip();
        let account = creds.as_ref().map(|c| c.username.as_str());
        let registered_here = account.is_some_and(|a| {
            self.registrar
                .lookup(now, a)
                .iter()
                .any(|b| b.target.addr.ip() == ip)
        });
        if self.guard.is_locked(now, ip, account, registered_here) {
            info!(%source, user = %Printable(account.unwrap_or("-")), method = %req.method, "refused: locked out after repeated authentication failures");
            self.adapter
                .respond(tx, &Response::to_request(req, 403, Some(&tag())));
            return Auth::Challenged;
        }
        let mut stale = false;
        if let Some(creds) = creds {
            let ha1: Option<String> =
                match parley_core::sip::digest::Algorithm::parse(creds.algorithm.as_deref()) {
                    Some(alg) if parley_store::validate_extension(&creds.username).is_ok() => self
                        .store
                        .ha1(&creds.username, alg)
                        .await
                        .unwrap_or_else(|e| {
                            warn!(error = %e, "account lookup failed");
                            None
                        }),
                    _ => None,
                };
            let known = ha1.is_some();
            let line = RequestLine {
                method: req.method.as_str(),
                uri: &req.uri,
            };
            match self.auth.verify(&creds, line, unix_now(), |_, _| ha1) {
                Verdict::Accepted => return Auth::Ok(creds.username),
                Verdict::Stale => stale = true,
                Verdict::Replayed => {
                    info!(user = %Printable(&creds.username), %source, method = %req.method, "digest response seen before (replayed or nonce forgotten): challenged again");
                    stale = true;
                }
                Verdict::UnknownNonce => {
                    debug!(%source, method = %req.method, "digest with a nonce that is not ours (made up, or from before a restart): challenged again");
                    stale = true;
                }
                Verdict::Unusable => {
                    info!(user = %Printable(&creds.username), %source, method = %req.method, "digest refused: no qop, or its uri is not the Request-URI");
                    self.adapter
                        .respond(tx, &Response::to_request(req, 403, Some(&tag())));
                    return Auth::Challenged;
                }
                Verdict::Rejected => {
                    let user = parley_core::guard::account_key(&creds.username);
                    info!(user = %Printable(&user), %source, method = %req.method, "authentication failed");
                    self.guard.prune(now);
                    // Only real accounts are counted by name: made-up names cannot fill the table.
                    let account = known.then_some(user.as_str());
                    for lock in self.guard.record_failure(now, ip, account) {
                        match lock {
                            Lockout::Address(a, d) => {
                                warn!(address = %a, secs = d.as_secs(), "authentication lockout of a source address")
                            }
                            Lockout::Account(u, d) => {
                                warn!(user = %u, secs = d.as_secs(), "authentication lockout of an account")
                            }
                        }
                    }
                    self.publish_status();
                    self.adapter
                        .respond(tx, &Response::to_request(req, 403, Some(&tag())));
                    return Auth::Challenged;
                }
            }
        }
        let status = if proxy { 407 } else { 401 };
        let mut r = Response::to_request(req, status, Some(&tag()));
        let name = if proxy {
            "Proxy-Authenticate"
        } else {
            "WWW-Authenticate"
        };
        for ch in self.auth.challenges(unix_now(), rand::random(), stale) {
            r.headers.push(name, &ch);
        }
        self.adapter.respond(tx, &r);
        Auth::Challenged
    }

    async fn handle_register(&mut self, tx: TxId, req: &Request, source: Target) {
        let Auth::Ok(user) = self.authenticate(tx, req, source, false).await else {
            return;
        };
        let span = info_span!("registration", ext = %user, %source);
        let outcome = span.in_scope(|| {
            let outcome = self
                .registrar
                .handle_register(now(), req, &user, source, &tag());
            // Status first, so that whoever sees the 200 also sees the registration.
            self.publish_status();
            self.adapter.respond(tx, &outcome.response);
            if outcome.changed {
                info!(
                    status = outcome.response.status,
                    contacts = self.registrar.lookup(now(), &user).len(),
                    "registration changed"
                );
            } else {
                debug!(status = outcome.response.status, "registration refreshed");
            }
            outcome
        });
        if outcome.changed && !self.registrar.lookup(now(), &user).is_empty() {
            // A phone that (re)appears learns its lamp state; an empty mailbox needs no NOTIFY.
            let c = self.store.message_counts(&user).await.unwrap_or_default();
            if c.new > 0 || c.old > 0 {
                span.in_scope(|| self.mwi_on_register(&user, c));
            }
        }
    }

    async fn handle_invite(&mut self, tx: TxId, req: Request, source: Target) {
        let callee = req.uri.user_base().unwrap_or_default().to_string();
        let vm = &self.config.vm;
        if callee == vm.pilot && vm.pbx_peers.contains(&source.addr.ip()) {
            // A trusted PBX sending a diverted call: no digest, the headers name the mailbox.
            let caller = req
                .headers
                .from()
                .and_then(|f| f.uri.user_base().map(str::to_string))
                .unwrap_or_default();
            return self.pilot_call(tx, req, source, caller).await;
        }
        let Auth::Ok(caller) = self.authenticate(tx, &req, source, true).await else {
            return;
        };
        let mine = self
            .calls
            .values()
            .filter(|c| c.call.parties().0 == caller)
            .count()
            + self
                .sessions
                .values()
                .filter(|e| e.is_from(&caller))
                .count();
        if let Err(refusal) = self.config.limits.admit_call(mine) {
            info!(caller = %caller, "call refused: too many calls in progress for this account");
            return self.refuse(tx, &req, None, refusal);
        }
        let vm = &self.config.vm;
        if callee == vm.own_code {
            let kind = VmKind::Retrieval {
                mailbox: Some(caller.clone()),
                own: true,
            };
            return self
                .start_voicemail(tx, req, source, None, caller, kind)
                .await;
        }
        if callee == vm.any_code {
            let kind = VmKind::Retrieval {
                mailbox: None,
                own: false,
            };
            return self
                .start_voicemail(tx, req, source, None, caller, kind)
                .await;
        }
        if callee == vm.pilot {
            return self.pilot_call(tx, req, source, caller).await;
        }
        let callee_user = match self.store.get_user(&callee).await {
            Ok(u) => u,
            Err(e) => {
                warn!(error = %e, "account lookup failed");
                self.adapter
                    .respond(tx, &Response::to_request(&req, 500, Some(&tag())));
                return;
            }
        };
        if callee_user.is_none() {
            self.adapter
                .respond(tx, &Response::to_request(&req, 404, Some(&tag())));
            return self.refused_record(&caller, &callee, Outcome::Failed);
        }
        let contacts = self.registrar.lookup(now(), &callee);
        let to_voicemail = self.config.vm.enabled;
        if contacts.is_empty() && !to_voicemail {
            self.adapter
                .respond(tx, &Response::to_request(&req, 480, Some(&tag())));
            return self.refused_record(&caller, &callee, Outcome::NoAnswer);
        }
        if contacts.is_empty() {
            let kind = VmKind::Deposit {
                mailbox: callee,
                reason: Reason::Unavailable,
                since: None,
            };
            return self
                .start_voicemail(tx, req, source, None, caller, kind)
                .await;
        }
        let busy = !self.config.call_waiting
            && self.calls.values().any(|c| {
                c.call.is_answered() && {
                    let (a, b) = c.call.parties();
                    a == callee || b == callee
                }
            });
        if busy && !to_voicemail {
            self.adapter
                .respond(tx, &Response::to_request(&req, 486, Some(&tag())));
            return self.refused_record(&caller, &callee, Outcome::Busy);
        }
        if busy {
            let kind = VmKind::Deposit {
                mailbox: callee,
                reason: Reason::Busy,
                since: None,
            };
            return self
                .start_voicemail(tx, req, source, None, caller, kind)
                .await;
        }
        let relay = match self.allocate_relay().await {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "cannot allocate media ports");
                self.adapter
                    .respond(tx, &Response::to_request(&req, 503, Some(&tag())));
                return;
            }
        };
        let caller_name = self
            .store
            .get_user(&caller)
            .await
            .ok()
            .flatten()
            .map(|u| u.name);
        let record_name = caller_name.clone();
        let id = self.next_call;
        self.next_call += 1;
        let span = info_span!("call", id, from = %Printable(&caller), to = %Printable(&callee));
        let config = CallConfig {
            local: LocalAddr {
                host: self.config.public_ip.to_string(),
                port: self.config.listen.port(),
            },
            media_ip: self.config.public_ip,
            no_answer: self.config.no_answer,
        };
        let call = {
            let _g = span.enter();
            info!(contacts = contacts.len(), "call started");
            Call::new(
                now(),
                config,
                NewCall {
                    invite: req,
                    tx,
                    source,
                    caller,
                    caller_name,
                    callee,
                    forks: contacts
                        .iter()
                        .map(|b| ForkTarget {
                            uri: b.uri.clone(),
                            target: b.target,
                        })
                        .collect(),
                    a_media_port: relay.a_port,
                    b_media_port: relay.b_port,
                    seed: rand::random(),
                    divert: to_voicemail,
                },
            )
        };
        self.by_call_id
            .insert(call.a_call_id().to_string(), (id, Side::A));
        for (i, cid) in call.b_call_ids().into_iter().enumerate() {
            self.by_call_id.insert(cid, (id, Side::B(i)));
        }
        self.server_txs.insert(tx, id);
        self.calls.insert(
            id,
            CallEntry {
                call,
                relay,
                span,
                started: now(),
                started_unix: unix_now(),
                caller_name: record_name,
                answered_at: None,
                end_status: 0,
                diverted: false,
            },
        );
        self.drive(id);
    }

    /// A call to the voicemail pilot: the mailbox the diversion headers name, else the mailbox menu.
    async fn pilot_call(&mut self, tx: TxId, req: Request, source: Target, caller: String) {
        let kind = match parley_core::vm::divert::diverted_to(&req) {
            Some((mailbox, reason)) => {
                if !matches!(self.store.get_user(&mailbox).await, Ok(Some(_))) {
                    info!(mailbox = %Printable(&mailbox), "diverted call for an unknown mailbox");
                    self.adapter
                        .respond(tx, &Response::to_request(&req, 404, Some(&tag())));
                    return;
                }
                VmKind::Deposit {
                    mailbox,
                    reason,
                    since: None,
                }
            }
            None => VmKind::Retrieval {
                mailbox: None,
                own: false,
            },
        };
        self.start_voicemail(tx, req, source, None, caller, kind)
            .await
    }

    /// Calls that rang out or found the callee busy: answer their callers with voicemail.
    async fn start_diverted(&mut self) {
        for d in std::mem::take(&mut self.diverted) {
            let Diverted {
                leg,
                caller,
                callee,
                busy,
                since,
            } = d;
            // The caller's requests now belong to the voicemail call (start_voicemail remaps them).
            let kind = VmKind::Deposit {
                mailbox: callee,
                reason: if busy { Reason::Busy } else { Reason::NoAnswer },
                since: Some(since),
            };
            self.start_voicemail(leg.tx, leg.invite, leg.source, Some(leg.tag), caller, kind)
                .await;
        }
    }

    async fn allocate_relay(&mut self) -> std::io::Result<Relay> {
        let a = self.ports.allocate().await?;
        let b = self.ports.allocate().await?;
        Relay::start(a, b)
    }

    /// Carry out everything a call asked for; drop it once it has ended.
    fn drive(&mut self, id: u64) {
        let Some(entry) = self.calls.get_mut(&id) else {
            return;
        };
        let mut changed = false;
        while let Some(out) = entry.call.poll_output() {
            match out {
                Output::Respond { tx, response } => self.adapter.respond(tx, &response),
                Output::Request {
                    side,
                    request,
                    target,
                } => {
                    let ctx = self.adapter.send_request(&request, target);
                    self.client_txs.insert(
                        ctx,
                        ClientRoute::Call {
                            call: id,
                            side,
                            request,
                        },
                    );
                }
                // rsipstack's client INVITE transaction ACKs every 2xx itself (and its retransmissions),
                // so the core's ACK is not sent a second time.
                Output::Ack { .. } => {}
                Output::Media(update) => entry.relay.update(update),
                Output::Event(ev) => {
                    let _g = entry.span.enter();
                    match ev {
                        CallEvent::Answered => {
                            info!("call answered");
                            entry.answered_at = Some(now());
                        }
                        CallEvent::Ended { status, reason } => {
                            info!(status, reason, "call ended");
                            entry.end_status = status;
                        }
                        CallEvent::Unanswered { busy } => {
                            info!(busy, "callee did not take the call: to voicemail");
                            entry.diverted = true;
                            let (a, b) = entry.call.parties();
                            self.diverted.push(Diverted {
                                leg: entry.call.a_leg(),
                                caller: a.to_string(),
                                callee: b.to_string(),
                                busy,
                                since: (entry.started_unix, entry.started),
                            });
                        }
                        CallEvent::Dtmf(_) => {}
                    }
                    changed = true;
                }
            }
        }
        if entry.call.is_ended() {
            let entry = self.calls.remove(&id);
            if let Some(e) = entry {
                self.by_call_id.retain(|_, (c, _)| *c != id);
                self.server_txs.retain(|_, c| *c != id);
                if !e.diverted {
                    let (a, b) = e.call.parties();
                    let end = now();
                    let outcome = match (e.answered_at, e.end_status) {
                        (Some(_), _) => Outcome::Answered,
                        (None, 486 | 600 | 603) => Outcome::Busy,
                        (None, 408 | 480) => Outcome::NoAnswer,
                        (None, 487) => Outcome::Cancelled,
                        (None, _) => Outcome::Failed,
                    };
                    self.write_call_record(CallRecord {
                        id: 0,
                        started_at: e.started_unix as i64,
                        caller: a.to_string(),
                        caller_name: e.caller_name.clone(),
                        callee: b.to_string(),
                        outcome,
                        talk_ms: e
                            .answered_at
                            .map(|t| end.saturating_duration_since(t).as_millis() as i64)
                            .unwrap_or(0),
                        total_ms: end.saturating_duration_since(e.started).as_millis() as i64,
                    });
                }
                let _g = e.span.enter();
                info!(
                    a_to_b = e
                        .relay
                        .stats
                        .a_to_b
                        .load(std::sync::atomic::Ordering::Relaxed),
                    b_to_a = e
                        .relay
                        .stats
                        .b_to_a
                        .load(std::sync::atomic::Ordering::Relaxed),
                    "media relay closed"
                );
            }
            changed = true;
        }
        if changed {
            self.publish_status();
        }
    }

    /// The record of a call refused before anything rang (unknown number, nobody registered, busy).
    fn refused_record(&self, caller: &str, callee: &str, outcome: Outcome) {
        self.write_call_record(CallRecord {
            id: 0,
            started_at: unix_now() as i64,
            caller: caller.to_string(),
            caller_name: None,
            callee: callee.to_string(),
            outcome,
            talk_ms: 0,
            total_ms: 0,
        });
    }

    /// Write a call record off the actor (a slow disk never holds up signalling).
    fn write_call_record(&self, r: CallRecord) {
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.add_call_record(&r).await {
                warn!(error = %e, "call record not written");
            }
        });
    }

    fn publish_status(&self) {
        let now = now();
        let registrations = self
            .registrar
            .all(now)
            .into_iter()
            .flat_map(|(ext, list)| {
                list.into_iter().map(move |b| RegistrationView {
                    extension: ext.clone(),
                    contact: b.uri.to_string(),
                    source: b.target.to_string(),
                    expires_in: b.expires_at.saturating_duration_since(now).as_secs(),
                    user_agent: b.user_agent,
                })
            })
            .collect();
        let mut calls: Vec<CallView> = self
            .calls
            .iter()
            .map(|(id, c)| {
                let (a, b) = c.call.parties();
                CallView {
                    id: *id,
                    caller: a.to_string(),
                    callee: b.to_string(),
                    state: if c.call.is_answered() {
                        "answered"
                    } else {
                        "ringing"
                    }
                    .to_string(),
                    age_secs: now.saturating_duration_since(c.started).as_secs(),
                    packets_a_to_b: c
                        .relay
                        .stats
                        .a_to_b
                        .load(std::sync::atomic::Ordering::Relaxed),
                    packets_b_to_a: c
                        .relay
                        .stats
                        .b_to_a
                        .load(std::sync::atomic::Ordering::Relaxed),
                    packets_from_strangers: c
                        .relay
                        .stats
                        .strangers
                        .load(std::sync::atomic::Ordering::Relaxed),
                }
            })
            .collect();
        calls.sort_by_key(|c| c.id);
        let lockouts: Vec<LockoutView> = self
            .guard
            .locked_accounts(now)
            .into_iter()
            .map(|(a, d)| LockoutView {
                what: format!("account {a}"),
                key: a,
                seconds_left: d.as_secs(),
            })
            .chain(
                self.guard
                    .locked_addresses(now)
                    .into_iter()
                    .map(|(a, d)| LockoutView {
                        what: format!("address {a}"),
                        key: a.to_string(),
                        seconds_left: d.as_secs(),
                    }),
            )
            .collect();
        let lockouts = lockouts
            .into_iter()
            .chain(
                self.pin_guard
                    .locked_accounts(now)
                    .into_iter()
                    .map(|(m, d)| LockoutView {
                        what: format!("mailbox {m}"),
                        key: m,
                        seconds_left: d.as_secs(),
                    }),
            )
            .chain(
                self.pin_guard
                    .locked_addresses(now)
                    .into_iter()
                    .map(|(a, d)| LockoutView {
                        what: format!("mailbox logins from {a}"),
                        key: a.to_string(),
                        seconds_left: d.as_secs(),
                    }),
            )
            .collect();
        let mut voicemail: Vec<_> = self
            .sessions
            .iter()
            .map(|(id, e)| e.view(*id, now))
            .collect();
        voicemail.sort_by_key(|v| v.id);
        if let Ok(mut s) = self.status.write() {
            *s = Status {
                registrations,
                calls,
                lockouts,
                voicemail,
                mwi_subscriptions: self.mwi.len(),
            };
        }
    }

    async fn shutdown(&mut self) {
        let ids: Vec<u64> = self.calls.keys().copied().collect();
        if !ids.is_empty() {
            info!(calls = ids.len(), "ending calls in progress");
        }
        for id in ids {
            if let Some(c) = self.calls.get_mut(&id) {
                c.call.hangup(now());
            }
            self.drive(id);
        }
        let vm: Vec<u64> = self.sessions.keys().copied().collect();
        for id in vm {
            if let Some(e) = self.sessions.get_mut(&id) {
                e.hangup();
            }
            self.drive_vm(id).await;
        }
        // Give the BYEs a moment to leave before the transports close.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = self.status.write().map(|mut s| *s = Status::default());
    }
}

const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, SUBSCRIBE, NOTIFY";

fn tag() -> String {
    format!("{:x}", rand::random::<u64>())
}

/// Read the live status (for tests and the HTTP API).
pub fn snapshot(status: &StatusHandle) -> Status {
    status.read().map(|s| s.clone()).unwrap_or_default()
}

/// Spawn the SIP server in the current runtime, instrumented.
pub fn spawn(
    config: SipConfig,
    store: Store,
    status: StatusHandle,
    control: mpsc::UnboundedReceiver<Control>,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<Result<(), AdapterError>> {
    tokio::spawn(run(config, store, status, control, cancel).instrument(info_span!("sip")))
}
