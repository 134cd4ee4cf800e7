//! Where a request goes: new requests by method (REGISTER, OPTIONS, INVITE, SUBSCRIBE), in-dialog
//! requests to the child that owns the dialog (only with the dialog's tags and from its party), and for
//! an INVITE the one decision of what the number dialled reaches: the trusted PBX's pilot, the feature
//! codes, an unknown number, an extension with no phone, a busy one, or its ringing phones.

use std::time::Instant;

use tracing::{debug, info, info_span, warn};

use super::auth::Then;
use super::calls::Forwarded;
use super::vm::VmKind;
use super::{
    Account, ClientRoute, Command, CountFor, JobId, Outcome, Pending, Switch, MAX_PENDING,
};
use crate::call::{Side, TxId};
use crate::routing::{Chosen, Destination, Finally, MAX_HOPS};
use crate::sip::StatusCode;
use crate::sip::{Method, Request, Response};
use crate::target::Target;
use crate::text::Printable;
use crate::trunk::dialplan::NumberClass;
use crate::vm::Reason;

/// What an authenticated INVITE waits for the directory to tell.
#[derive(Debug)]
pub(super) struct Waiting {
    tx: TxId,
    req: Request,
    source: Target,
    caller: String,
    to: Dialled,
}

impl Waiting {
    /// Its transaction and request.
    pub(super) fn request(&self) -> (TxId, &Request) {
        (self.tx, &self.req)
    }

    /// Where it came from.
    pub(super) fn source_ip(&self) -> std::net::IpAddr {
        crate::guard::address_key(self.source.addr.ip())
    }

    /// The address it came from, as it is.
    pub(super) fn source_addr(&self) -> std::net::IpAddr {
        self.source.addr.ip()
    }

    /// The authenticated caller.
    pub(super) fn caller(&self) -> &str {
        &self.caller
    }

    /// Whether it is an emergency call.
    pub(super) fn is_emergency(&self) -> bool {
        matches!(&self.to, Dialled::Outside { number } if number.class == NumberClass::Emergency)
    }
}

/// What the number dialled turned out to be, before the directory answered.
#[derive(Debug, Clone)]
enum Dialled {
    /// `*97`: the caller's own mailbox.
    OwnMailbox,
    /// The pilot with diversion headers naming a mailbox.
    Diverted { mailbox: String, reason: Reason },
    /// An extension (answers: the callee, then the caller); `forwarded`: by another user's route.
    Extension {
        callee: String,
        forwarded: Option<Forwarded>,
    },
    /// A number outside (answers: the caller).
    Outside {
        number: crate::trunk::dialplan::Outside,
    },
}

impl Switch {
    /// A new server transaction.
    pub fn handle_request(&mut self, now: Instant, tx: TxId, req: Request, source: Target) {
        let has_to_tag = req.headers.to().is_some_and(|t| t.tag().is_some());
        match req.method {
            Method::Register => self.authenticate(now, tx, req, source, Then::Register),
            Method::Options if !has_to_tag => {
                let tag = self.tag();
                let mut r = Response::to_request(&req, StatusCode::OK, Some(&tag));
                r.headers.push("Allow", super::ALLOW);
                r.headers.push("Accept", "application/sdp");
                self.respond(tx, r);
            }
            Method::Invite if !has_to_tag => self.invite(now, tx, req, source),
            Method::Ack => {}
            _ if has_to_tag || matches!(req.method, Method::Bye | Method::Cancel) => {
                self.in_dialog(now, tx, req, source)
            }
            Method::Subscribe => self.authenticate(now, tx, req, source, Then::Subscribe),
            Method::Message | Method::Publish | Method::Refer | Method::Notify => {
                // Nothing is accepted from strangers: authenticate first, then say what is not supported.
                self.authenticate(now, tx, req, source, Then::NotSupported)
            }
            _ => {
                let tag = self.tag();
                // A method nobody defined is not implemented (RFC 3261 §8.2.1); a known one that
                // Parley does not take is not allowed.
                let status = if matches!(req.method, Method::Other(_)) {
                    StatusCode::NOT_IMPLEMENTED
                } else {
                    StatusCode::METHOD_NOT_ALLOWED
                };
                let mut r = Response::to_request(&req, status, Some(&tag));
                r.headers.push("Allow", super::ALLOW);
                self.respond(tx, r);
            }
        }
    }

    fn in_dialog(&mut self, now: Instant, tx: TxId, req: Request, source: Target) {
        let known = self.by_call_id.get(req.call_id()).copied();
        // A Call-ID is no secret: the request must carry the dialog's tags and come from that leg's own
        // party, or it acts on nothing.
        let ip = source.addr.ip();
        let stranger =
            known.is_some_and(
                |(id, side)| match (self.voicemail.get(&id), self.calls.get(&id)) {
                    (Some(v), _) => !v.endpoint.accepts(&req, ip),
                    (None, Some(c)) => !c.call.accepts(side, &req, ip),
                    (None, None) => false,
                },
            );
        if stranger {
            info!(%source, method = %req.method, call_id = %Printable(req.call_id()), "in-dialog request refused: not from the dialog's party");
            return self.respond(
                tx,
                Response::to_request(&req, StatusCode::CALL_DOES_NOT_EXIST, None),
            );
        }
        match known {
            Some((id, _)) if self.voicemail.contains_key(&id) => {
                if let Some(v) = self.voicemail.get_mut(&id) {
                    let _g = v.span.clone().entered();
                    v.endpoint.handle_request(now, tx, &req);
                }
                self.drive_vm(now, id);
            }
            Some((id, side)) if self.calls.contains_key(&id) => {
                if let Some(c) = self.calls.get_mut(&id) {
                    let _g = c.span.clone().entered();
                    c.call.handle_request(now, side, tx, &req);
                }
                self.drive_call(now, id);
            }
            _ if req.method == Method::Subscribe => {
                self.authenticate(now, tx, req, source, Then::Subscribe)
            }
            _ => self.respond(
                tx,
                Response::to_request(&req, StatusCode::CALL_DOES_NOT_EXIST, None),
            ),
        }
    }

    /// A request on an existing server transaction (CANCEL or ACK of an INVITE).
    pub fn handle_in_transaction(&mut self, now: Instant, tx: TxId, req: Request) {
        if let Some(job) = self.waiting_invites.remove(&tx) {
            // CANCEL of an INVITE still waiting for a lookup: it ends here.
            if req.method == Method::Cancel {
                match self.pending.remove(&job) {
                    Some(Pending::Credentials(w)) => {
                        info!("caller cancelled before it was authenticated");
                        self.reply(tx, &w.into_request(), StatusCode::REQUEST_TERMINATED);
                    }
                    Some(Pending::Invite(w)) => {
                        info!("caller cancelled before the call was set up");
                        self.reply(tx, &w.req, StatusCode::REQUEST_TERMINATED);
                        let callee = w.req.uri.user_base().unwrap_or_default().to_string();
                        self.refused_record(now, &w.caller, &callee, Outcome::Cancelled);
                    }
                    None => {}
                }
            } else {
                self.waiting_invites.insert(tx, job);
            }
            return;
        }
        let Some(&id) = self.server_txs.get(&tx) else {
            return;
        };
        if let Some(c) = self.calls.get_mut(&id) {
            let _g = c.span.clone().entered();
            c.call.handle_request(now, Side::A, tx, &req);
            drop(_g);
            self.drive_call(now, id);
        } else if let Some(v) = self.voicemail.get_mut(&id) {
            let _g = v.span.clone().entered();
            v.endpoint.handle_request(now, tx, &req);
            drop(_g);
            self.drive_vm(now, id);
        } else if req.method == Method::Cancel {
            self.cancel_opening(now, id, tx);
        }
    }

    /// A server transaction ended.
    pub fn handle_server_done(&mut self, tx: TxId) {
        self.server_txs.remove(&tx);
    }

    /// A response on a client transaction.
    pub fn handle_response(&mut self, now: Instant, route: &ClientRoute, response: Response) {
        match route {
            ClientRoute::Call { call, side, .. } => {
                if response.status >= 300 {
                    self.prune_alternates(*call);
                }
                if let Some(c) = self.calls.get_mut(call) {
                    let _g = c.span.clone().entered();
                    c.call.handle_response(now, *side, &response);
                }
                self.drive_call(now, *call);
            }
            ClientRoute::Notify { call_id } => self.notify_failed(call_id, response.status),
            ClientRoute::Transfer { call } if response.status >= 200 => {
                self.transfer_result(now, *call, response.status)
            }
            ClientRoute::Register { reg } => self.register_response(now, *reg, &response),
            ClientRoute::Options { probe } => self.probe_response(now, *probe, &response),
            _ => {}
        }
    }

    /// A client transaction ended (`final_seen` false: it timed out or the transport failed).
    pub fn handle_client_done(&mut self, now: Instant, route: ClientRoute, final_seen: bool) {
        if final_seen {
            return;
        }
        match route {
            ClientRoute::Notify { call_id } => {
                self.notify_failed(&call_id, StatusCode::REQUEST_TIMEOUT)
            }
            ClientRoute::Transfer { call } => {
                self.transfer_result(now, call, StatusCode::REQUEST_TIMEOUT)
            }
            ClientRoute::Call {
                call,
                side,
                request,
            } => {
                // Timeout or transport failure: as if the peer had answered 408.
                let resp =
                    Response::to_request(&request, StatusCode::REQUEST_TIMEOUT, Some("timeout"));
                self.prune_alternates(call);
                if let Some(c) = self.calls.get_mut(&call) {
                    c.call.handle_response(now, side, &resp);
                }
                self.drive_call(now, call);
            }
            ClientRoute::Register { reg } => self.register_failed(now, reg),
            ClientRoute::Options { probe } => self.probe_failed(now, probe),
            ClientRoute::Ignore => {}
        }
    }

    /// An authenticated REGISTER.
    pub(super) fn register(
        &mut self,
        now: Instant,
        tx: TxId,
        req: &Request,
        source: Target,
        user: &str,
    ) {
        let span = info_span!("registration", ext = %user, %source);
        let _g = span.enter();
        let tag = self.tag();
        let outcome = self.registrar.handle_register(now, req, user, source, &tag);
        self.changed = true;
        let status = outcome.response.status;
        self.respond(tx, outcome.response);
        let contacts = self.registrar.lookup(now, user).len();
        if outcome.changed {
            info!(status = status.as_u16(), contacts, "registration changed");
            if contacts > 0 {
                // A phone that (re)appears learns its lamp state.
                self.out.push_back(Command::CountMessages {
                    mailbox: user.to_string(),
                    why: CountFor::Registered,
                });
            }
        } else {
            debug!(status = status.as_u16(), "registration refreshed");
        }
    }

    fn invite(&mut self, now: Instant, tx: TxId, req: Request, source: Target) {
        if let Some(trunk) = self.trunk_of(source.addr.ip()).cloned() {
            // A call from a carrier: its address is its credential (phones never share it).
            return self.inbound(now, tx, req, source, trunk);
        }
        let callee = req.uri.user_base().unwrap_or_default().to_string();
        let vm = &self.config.vm;
        if callee == vm.pilot && vm.pbx_peers.contains(&source.addr.ip()) {
            // A trusted PBX sending a diverted call: no digest, the headers name the mailbox.
            let caller = req
                .headers
                .from()
                .and_then(|f| f.uri.user_base().map(str::to_string))
                .unwrap_or_default();
            return self.pilot(now, tx, req, source, caller);
        }
        self.authenticate(now, tx, req, source, Then::Invite)
    }

    /// An INVITE from an authenticated caller.
    pub(super) fn invite_from(
        &mut self,
        now: Instant,
        tx: TxId,
        req: Request,
        source: Target,
        caller: String,
    ) {
        let callee = req.uri.user_base().unwrap_or_default().to_string();
        let outside = self.config.outside.dialplan.outside(&callee);
        let emergency = matches!(&outside, Some(Ok(o)) if o.class == NumberClass::Emergency);
        // Calls still being set up count too: a burst cannot outrun the bound. An emergency call is
        // never held back by the limits of ordinary calls; it has its own small one, so that one
        // account cannot flood the emergency centre or take every line.
        if emergency
            && self.emergency_calls_of(&caller) >= super::outside::MAX_EMERGENCY_PER_ACCOUNT
        {
            info!(caller = %caller, "emergency call refused: this account has emergency calls in progress");
            return self.reply(tx, &req, StatusCode::BUSY_HERE);
        }
        if !emergency {
            if let Err(refusal) = self.config.limits.admit_call(self.calls_of(&caller)) {
                info!(caller = %caller, "call refused: too many calls in progress for this account");
                return self.refuse(tx, &req, None, refusal);
            }
        }
        match outside {
            Some(Ok(number)) => {
                return self.look_up(tx, req, source, caller, Dialled::Outside { number })
            }
            // Something shaped like an extension that is no number outside (`999`, `9123`) is
            // looked up as an extension: a 9xx extension stays reachable.
            Some(Err(_)) if crate::extension::Extension::is_valid(&callee) => {}
            Some(Err(e)) => {
                info!(caller = %caller, dialled = %Printable(&callee), error = %e, "outside number refused: 484");
                self.reply(tx, &req, StatusCode::ADDRESS_INCOMPLETE);
                return self.refused_record(now, &caller, &callee, Outcome::Failed);
            }
            None => {}
        }
        if let Some(presence) = self.presence_dialled(&callee) {
            info!(caller = %Printable(&caller), presence = presence.as_str(), "presence set from the phone");
            self.out.push_back(Command::SetPresence {
                ext: caller.clone(),
                presence,
                source: source.addr.ip(),
            });
            let audio = ["presence-now", presence.prompt()]
                .into_iter()
                .map(|p| crate::vm::Audio::Prompt(p.to_string()))
                .collect();
            let kind = VmKind::Notice { audio };
            return self.start_voicemail(now, tx, req, source, None, caller, kind, None);
        }
        let conference = &self.config.conference.extension;
        if !conference.is_empty() && callee == *conference {
            let kind = VmKind::Conference;
            return self.start_voicemail(now, tx, req, source, None, caller, kind, None);
        }
        let vm = &self.config.vm;
        if callee == vm.own_code {
            return self.look_up(tx, req, source, caller, Dialled::OwnMailbox);
        }
        if callee == vm.any_code {
            let kind = VmKind::Retrieval {
                mailbox: None,
                own: false,
            };
            return self.start_voicemail(now, tx, req, source, None, caller, kind, None);
        }
        if callee == vm.pilot {
            return self.pilot(now, tx, req, source, caller);
        }
        self.look_up(
            tx,
            req,
            source,
            caller,
            Dialled::Extension {
                callee,
                forwarded: None,
            },
        )
    }

    /// The presence a dialled number sets: the presence code and one presence digit.
    fn presence_dialled(&self, dialled: &str) -> Option<crate::routing::Presence> {
        let code = &self.config.presence_code;
        let rest = dialled
            .strip_prefix(code.as_str())
            .filter(|_| !code.is_empty())?;
        let mut digits = rest.chars();
        match (digits.next(), digits.next()) {
            (Some(d), None) => crate::routing::Presence::from_digit(d),
            _ => None,
        }
    }

    /// A call to the voicemail pilot: the mailbox the diversion headers name, else the mailbox menu.
    fn pilot(&mut self, now: Instant, tx: TxId, req: Request, source: Target, caller: String) {
        match crate::vm::divert::diverted_to(&req) {
            Some((mailbox, reason)) => self.look_up(
                tx,
                req,
                source,
                caller,
                Dialled::Diverted { mailbox, reason },
            ),
            None => {
                let kind = VmKind::Retrieval {
                    mailbox: None,
                    own: false,
                };
                self.start_voicemail(now, tx, req, source, None, caller, kind, None)
            }
        }
    }

    /// Look up extension `callee` for a call from `caller` (then ring it).
    pub(super) fn look_up_extension(
        &mut self,
        tx: TxId,
        req: Request,
        source: Target,
        caller: String,
        callee: String,
    ) {
        self.look_up(
            tx,
            req,
            source,
            caller,
            Dialled::Extension {
                callee,
                forwarded: None,
            },
        )
    }

    /// Look up `mailbox` for a caller sent straight to its greeting.
    pub(super) fn look_up_mailbox(
        &mut self,
        tx: TxId,
        req: Request,
        source: Target,
        caller: String,
        mailbox: String,
        reason: Reason,
    ) {
        self.look_up(
            tx,
            req,
            source,
            caller,
            Dialled::Diverted { mailbox, reason },
        )
    }

    fn look_up(&mut self, tx: TxId, req: Request, source: Target, caller: String, to: Dialled) {
        if self.pending.len() >= MAX_PENDING {
            warn!("too many calls waiting for directory lookups: 503");
            return self.reply(tx, &req, StatusCode::SERVICE_UNAVAILABLE);
        }
        let names = match &to {
            Dialled::OwnMailbox => vec![caller.clone()],
            Dialled::Diverted { mailbox, .. } => vec![mailbox.clone()],
            Dialled::Extension { callee, .. } => vec![callee.clone(), caller.clone()],
            Dialled::Outside { .. } => vec![caller.clone()],
        };
        let job = self.new_job();
        self.out.push_back(Command::Accounts { job, names });
        self.waiting_invites.insert(tx, job);
        self.pending.insert(
            job,
            Pending::Invite(Waiting {
                tx,
                req,
                source,
                caller,
                to,
            }),
        );
    }

    /// The directory's answer to [`Command::Accounts`] (`Err`: the lookup failed).
    pub fn handle_accounts(
        &mut self,
        now: Instant,
        job: JobId,
        found: Result<Vec<Option<Account>>, ()>,
    ) {
        let Some(Pending::Invite(w)) = self.pending.remove(&job) else {
            return;
        };
        if self.waiting_invites.remove(&w.tx).is_none() {
            return; // cancelled while waiting
        }
        let mut found = match found {
            Ok(found) => found,
            // The own mailbox still opens (with the PIN prompt) when its settings cannot be read.
            Err(()) if matches!(w.to, Dialled::OwnMailbox) => vec![None],
            // An emergency call goes out even when the directory cannot be read.
            Err(()) if matches!(&w.to, Dialled::Outside { number } if number.class == NumberClass::Emergency) =>
            {
                vec![None]
            }
            Err(()) => {
                warn!("account lookup failed: 503");
                return self.unavailable(w.tx, &w.req);
            }
        };
        let Waiting {
            tx,
            req,
            source,
            caller,
            to,
        } = w;
        let first = found.first_mut().and_then(Option::take);
        match to {
            Dialled::OwnMailbox => {
                let kind = VmKind::Retrieval {
                    mailbox: Some(caller.clone()),
                    own: true,
                };
                self.start_voicemail(now, tx, req, source, None, caller, kind, first)
            }
            Dialled::Diverted { mailbox, reason } => {
                if first.is_none() {
                    info!(mailbox = %Printable(&mailbox), "diverted call for an unknown mailbox");
                    return self.reply(tx, &req, StatusCode::NOT_FOUND);
                }
                let kind = VmKind::Deposit {
                    mailbox,
                    reason,
                    since: None,
                    transfer_to: None,
                };
                self.start_voicemail(now, tx, req, source, None, caller, kind, first)
            }
            Dialled::Extension { callee, forwarded } => {
                let caller_name = found.get_mut(1).and_then(Option::take).map(|a| a.name);
                let call = Ring {
                    tx,
                    req,
                    source,
                    caller,
                    caller_name,
                    callee,
                    forwarded,
                };
                self.ring_extension(now, call, first)
            }
            Dialled::Outside { number } => {
                self.dial_out(now, tx, req, source, caller, first, number)
            }
        }
    }

    /// The one decision of what a call to an extension does: the callee's route (its presence's
    /// connection attempts, each ringing its destinations' phones at once), then its Finally route.
    fn ring_extension(&mut self, now: Instant, call: Ring, account: Option<Account>) {
        let Ring {
            tx,
            req,
            source,
            caller,
            caller_name,
            callee,
            forwarded,
        } = call;
        let Some(account) = account else {
            self.reply(tx, &req, StatusCode::NOT_FOUND);
            return self.refused_record(now, &caller, &callee, Outcome::Failed);
        };
        let on_call = self.calls.values().any(|c| {
            c.call.is_answered() && {
                let (a, b) = c.call.parties();
                a == callee || b == callee
            }
        });
        // Who calls, as Caller-ID routes see it: an outside number in E.164 digits and in its
        // national form, or the calling extension.
        let external = self.trunk_of(source.addr.ip()).is_some();
        let national = external.then(|| {
            self.config
                .outside
                .dialplan
                .format(&caller, crate::trunk::NumberFormat::National)
        });
        let digits = caller.strip_prefix('+').unwrap_or(&caller);
        let forms: Vec<&str> = std::iter::once(digits).chain(national.as_deref()).collect();
        let (route, chosen) = account.routing.route_for(
            crate::routing::Caller {
                external,
                forms: &forms,
            },
            on_call,
        );
        let on_busy = chosen == Chosen::OnBusy;
        if chosen != Chosen::Presence {
            info!(%callee, route = ?chosen, "the callee's route for this call");
        }
        let to_voicemail = self.config.vm.enabled;
        let divert = match &route.finally {
            Finally::Voicemail | Finally::VoicemailTransfer(_) => to_voicemail,
            Finally::Extension(_) | Finally::Number(_) => true,
            Finally::HangUp => false,
        };
        // Without call waiting a user on a call is busy, unless an On-Busy route says where its
        // calls go.
        let busy = !on_busy && !self.config.call_waiting && on_call;
        let whose = Whose {
            callee: &callee,
            account: &account,
            caller: &caller,
            invite: &req,
            source,
        };
        let mut attempts = self.attempts_of(now, &whose, &route);
        let unreachable = match (attempts.is_empty(), busy) {
            (true, _) => Some((
                StatusCode::TEMPORARILY_UNAVAILABLE,
                Reason::Unavailable,
                Outcome::NoAnswer,
            )),
            (false, true) => Some((StatusCode::BUSY_HERE, Reason::Busy, Outcome::Busy)),
            (false, false) => None,
        };
        let tag = forwarded.as_ref().map(|f| f.tag.clone());
        match unreachable {
            Some((status, _, outcome)) if !divert => {
                let tag = tag.unwrap_or_else(|| self.tag());
                self.respond(tx, Response::to_request(&req, status, Some(&tag)));
                self.refused_record(now, &caller, &callee, outcome)
            }
            Some((_, reason, _)) => {
                let reason = if on_busy { Reason::Busy } else { reason };
                let hops = forwarded
                    .as_ref()
                    .map_or((0, Vec::new()), |f| (f.hops, f.visited.clone()));
                let since = forwarded.as_ref().map(|f| f.since);
                let leg = crate::call::ALeg {
                    invite: req,
                    tx,
                    source,
                    tag: tag.unwrap_or_else(|| self.tag()),
                };
                self.finally(
                    now,
                    leg,
                    caller,
                    callee,
                    account,
                    route.finally,
                    reason,
                    since,
                    hops,
                );
            }
            None => {
                let first = attempts.remove(0);
                // A Follow-Me leg is the callee's outside call.
                let follows = std::iter::once(&first)
                    .chain(&attempts)
                    .any(|a| a.forks.iter().any(|f| f.outward.is_some()));
                self.ring(super::calls::Planned {
                    tx,
                    invite: req,
                    source,
                    payer: if follows {
                        callee.clone()
                    } else {
                        caller.clone()
                    },
                    caller,
                    caller_name,
                    callee,
                    forks: first.forks,
                    account,
                    divert,
                    ring_for: Some(first.ring_for),
                    alternates: Vec::new(),
                    next_attempts: attempts,
                    finally: route.finally,
                    forwarded,
                    on_busy,
                })
            }
        }
    }

    /// The connection attempts of `route` for a call to `callee`, each with the phones its
    /// destinations have now (each phone once in an attempt); attempts with no phone are left out.
    fn attempts_of(
        &mut self,
        now: Instant,
        whose: &Whose<'_>,
        route: &crate::routing::CallRoute,
    ) -> Vec<crate::call::NextAttempt> {
        let mut follow_me: Option<Option<crate::call::ForkTarget>> = None;
        let mut attempts = Vec::new();
        for a in &route.attempts {
            let mut forks: Vec<crate::call::ForkTarget> = Vec::new();
            for d in &a.destinations {
                let ext = match d {
                    Destination::Handsets => whose.callee,
                    Destination::Extension(e) => e.as_str(),
                    Destination::Number(n) => {
                        // One leg for the route's number, planned once (a route names one).
                        let leg = follow_me
                            .get_or_insert_with(|| self.follow_me_leg(now, whose, n))
                            .clone();
                        forks.extend(leg);
                        continue;
                    }
                };
                for f in super::calls::phone_forks(ext, &self.registrar.lookup(now, ext)) {
                    if !forks.iter().any(|g| g.uri == f.uri && g.target == f.target) {
                        forks.push(f);
                    }
                }
            }
            if !forks.is_empty() {
                attempts.push(crate::call::NextAttempt {
                    forks,
                    ring_for: a.ring_for(self.config.no_answer),
                });
            }
        }
        if let Some(Some(_)) = follow_me {
            let limits = self.config.outside.limits;
            self.outside_hourly.placed(now, whose.callee, &limits);
        }
        attempts
    }

    /// The Follow-Me leg to `number` of a call to `whose.callee`: through the first trunk that can
    /// carry it, as the user would dial it (its dialling class and outside-call limits), showing
    /// the company's central number, screened (the caller's number said, then press 1). None when
    /// it cannot go (the route then rings the rest).
    fn follow_me_leg(
        &mut self,
        now: Instant,
        whose: &Whose<'_>,
        number: &str,
    ) -> Option<crate::call::ForkTarget> {
        let user = whose.callee;
        let number = match self.config.outside.dialplan.outside(number) {
            Some(Ok(n)) if n.class != NumberClass::Emergency => n,
            _ => {
                info!(%user, number = %Printable(number), "Follow-Me number is not one Parley can call");
                return None;
            }
        };
        if let Err(why) = self.outside_allowed(now, user, whose.source, whose.account, &number) {
            info!(%user, number = %number.number, why, "Follow-Me not placed");
            return None;
        }
        let caller_id = self
            .config
            .outside
            .main_number
            .clone()
            .or_else(|| whose.account.outside_number.clone())
            .unwrap_or_else(|| user.to_string());
        let mut leg = self
            .outside_legs(&number, &caller_id, whose.invite)
            .ok()?
            .into_iter()
            .next()?;
        // Parley talks to the leg before it is bridged: G.711 only, which its media end speaks.
        let g711 = [crate::trunk::Codec::Pcmu, crate::trunk::Codec::Pcma];
        let offered = crate::sdp::AudioSession::parse(&whose.invite.body)
            .map(|o| o.formats)
            .unwrap_or_default();
        if let Some(o) = leg.outward.as_mut() {
            if o.codecs.is_empty() {
                o.codecs = g711.to_vec();
            }
            o.codecs.retain(|c| g711.contains(c));
            if !crate::call::offer_fits(&offered, &o.codecs) || o.codecs.is_empty() {
                info!(%user, "Follow-Me not placed: the caller offers no G.711");
                return None;
            }
        }
        let mut audio = Vec::new();
        let caller_digits = whose.caller.strip_prefix('+').unwrap_or(whose.caller);
        if !caller_digits.is_empty() && caller_digits.bytes().all(|b| b.is_ascii_digit()) {
            audio.push(crate::vm::Audio::Prompt("followme-call-from".into()));
            audio.extend(crate::vm::say::digits(caller_digits));
        } else {
            audio.push(crate::vm::Audio::Prompt("followme-call".into()));
        }
        let pin = whose.account.follow_me_pin;
        let ask = if pin {
            "followme-pin"
        } else {
            "followme-press"
        };
        audio.push(crate::vm::Audio::Prompt(ask.into()));
        if let Some(o) = leg.outward.as_mut() {
            o.screen = Some(crate::call::ScreenSpec {
                audio,
                wait: FOLLOW_ME_WAIT,
                pin,
                retry_audio: ["vm-incorrect", ask]
                    .into_iter()
                    .map(|p| crate::vm::Audio::Prompt(p.into()))
                    .collect(),
            });
        }
        info!(%user, number = %number.number, via = %leg.target, "Follow-Me leg planned");
        Some(leg)
    }

    /// Nobody answered a call to `callee` (or nobody could be rung): its Finally route. To another
    /// user: the caller's leg goes on to that extension, which is looked up anew (its own route
    /// applies), unless the call was forwarded [`MAX_HOPS`] times already or went through that
    /// user's route before (a loop): then, as for a route ending in voicemail, the caller leaves a
    /// message for `callee`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn finally(
        &mut self,
        now: Instant,
        leg: crate::call::ALeg,
        caller: String,
        callee: String,
        account: Account,
        finally: Finally,
        reason: Reason,
        since: Option<Instant>,
        (hops, mut visited): (u32, Vec<String>),
    ) {
        visited.push(callee.clone());
        // Outside: the call goes out as the user would dial it; if it cannot, voicemail.
        let leg = match &finally {
            Finally::Number(number) if hops < MAX_HOPS => {
                let hops = (hops, visited.clone());
                match self.forward_out(now, leg, &caller, &callee, &account, number, since, hops) {
                    Ok(()) => return,
                    Err(leg) => *leg,
                }
            }
            _ => leg,
        };
        match finally {
            Finally::Extension(next) if hops < MAX_HOPS && !visited.contains(&next) => {
                info!(from = %callee, to = %next, hops = hops + 1, "call forwarded by the callee's route");
                let forwarded = Forwarded {
                    tag: leg.tag,
                    since: since.unwrap_or(now),
                    hops: hops + 1,
                    visited,
                };
                self.look_up(
                    leg.tx,
                    leg.invite,
                    leg.source,
                    caller,
                    Dialled::Extension {
                        callee: next,
                        forwarded: Some(forwarded),
                    },
                );
            }
            Finally::HangUp => {
                let status = if reason == Reason::Busy {
                    StatusCode::BUSY_HERE
                } else {
                    StatusCode::TEMPORARILY_UNAVAILABLE
                };
                self.respond(
                    leg.tx,
                    Response::to_request(&leg.invite, status, Some(&leg.tag)),
                );
                let outcome = Outcome::of_unanswered(Some(status));
                self.refused_record(now, &caller, &callee, outcome);
            }
            _ => {
                if matches!(finally, Finally::Extension(_)) {
                    info!(%callee, hops, "forwarding stops here (a loop, or too many hops): voicemail");
                }
                if !self.config.vm.enabled {
                    self.respond(
                        leg.tx,
                        Response::to_request(
                            &leg.invite,
                            StatusCode::TEMPORARILY_UNAVAILABLE,
                            Some(&leg.tag),
                        ),
                    );
                    return self.refused_record(now, &caller, &callee, Outcome::NoAnswer);
                }
                let transfer_to = match &finally {
                    Finally::VoicemailTransfer(t) => Some(t.clone()),
                    _ => None,
                };
                let kind = VmKind::Deposit {
                    mailbox: callee,
                    reason,
                    since,
                    transfer_to,
                };
                self.start_voicemail(
                    now,
                    leg.tx,
                    leg.invite,
                    leg.source,
                    Some(leg.tag),
                    caller,
                    kind,
                    Some(account),
                );
            }
        }
    }
}

/// How long after a Follow-Me leg answers its key is awaited (the prompt with the caller's number
/// takes about ten seconds).
const FOLLOW_ME_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Whose route a call follows, and the call, for planning its legs.
pub(super) struct Whose<'a> {
    callee: &'a str,
    account: &'a Account,
    caller: &'a str,
    invite: &'a Request,
    source: Target,
}

/// A call to an extension, its directory lookup answered.
pub(super) struct Ring {
    tx: TxId,
    req: Request,
    source: Target,
    caller: String,
    caller_name: Option<String>,
    callee: String,
    forwarded: Option<Forwarded>,
}
