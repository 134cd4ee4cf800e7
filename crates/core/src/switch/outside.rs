//! Calls to and from the outside. Out: a number the dial plan sends out ([`crate::trunk::dialplan`])
//! is checked against the caller's dialling class (emergency numbers always pass), given the caller
//! ID the carrier shows (the user's own number, else the company's main number), and rung through
//! the first trunk that can carry it, with media anchored like every call. In: an INVITE from a
//! trunk's address (no digest: the address is the trunk's credential) to one of the company's
//! numbers goes where that number points (an extension, or a mailbox's greeting), any other number
//! to the default destination or 404; the caller's number is shown in E.164, which phones can call
//! back.

use std::time::Instant;

use tracing::info;

use super::calls::Planned;
use super::{Account, CallId, Direction, Outcome, Switch};
use crate::call::{ForkTarget, Outward, TxId};
use crate::sip::{Request, Response, SipUri, StatusCode};
use crate::target::Target;
use crate::trunk::dialplan::{NumberClass, Outside};
use crate::trunk::uri_host;
use crate::trunk::{DidTarget, TrunkName};
use crate::vm::Reason;

/// How long a call to the outside rings before Parley gives up (the carrier usually ends it
/// sooner, with the far end's voicemail or a 480).
pub(super) const OUTSIDE_RING: std::time::Duration = std::time::Duration::from_secs(120);

/// Emergency calls one account may have in progress at once.
pub(super) const MAX_EMERGENCY_PER_ACCOUNT: usize = 2;

impl Switch {
    /// Whether a call ringing `forks` to `callee` counts towards the outside-call limits: it goes
    /// through a trunk and is no emergency call.
    pub(super) fn counts_as_outside(&self, forks: &[ForkTarget], callee: &str) -> bool {
        forks.iter().any(|f| f.outward.is_some())
            && !self
                .config
                .outside
                .dialplan
                .emergency
                .iter()
                .any(|e| e == callee)
    }

    /// Outside calls (not emergency calls) in progress or being set up: those `caller` pays for
    /// (dialled, or forwarded by its route), or everyone's.
    fn outside_calls(&self, caller: Option<&str>) -> usize {
        let mine = |name: &str| caller.is_none_or(|c| c == name);
        let up = self
            .calls
            .values()
            .filter(|c| c.outside && mine(&c.payer))
            .count();
        let opening = self
            .opening
            .values()
            .filter(|o| {
                matches!(o, super::Opening::Relay(p)
                    if mine(&p.payer) && self.counts_as_outside(&p.forks, &p.callee))
            })
            .count();
        up + opening
    }

    /// Emergency calls `caller` has in progress or being set up.
    pub(super) fn emergency_calls_of(&self, caller: &str) -> usize {
        let emergency = |n: &str| {
            self.config
                .outside
                .dialplan
                .emergency
                .iter()
                .any(|e| e == n)
        };
        let up = self
            .calls
            .values()
            .filter(|c| {
                let (a, b) = c.call.parties();
                a == caller && emergency(b)
            })
            .count();
        let opening = self
            .opening
            .values()
            .filter(|o| matches!(o, super::Opening::Relay(p) if p.caller == caller && emergency(&p.callee)))
            .count();
        let waiting = self
            .pending
            .values()
            .filter(|p| matches!(p, super::Pending::Invite(w) if w.caller() == caller && w.is_emergency()))
            .count();
        up + opening + waiting
    }

    /// Refuse `req` with `status`, saying why in the reason phrase and in a `Warning` (399, RFC 3261
    /// §20.43), which survives a SIP stack that writes its own phrase.
    fn explain(&mut self, tx: TxId, req: &Request, status: StatusCode, why: &str) {
        let tag = self.tag();
        let mut r = Response::to_request(req, status, Some(&tag));
        r.reason = why.to_string();
        let host = self.config.local.host.clone();
        r.headers.push("Warning", &format!("399 {host} \"{why}\""));
        self.respond(tx, r);
    }

    /// An INVITE from `trunk`'s address: a call from outside to one of the company's numbers.
    pub(super) fn inbound(
        &mut self,
        now: Instant,
        tx: TxId,
        req: Request,
        source: Target,
        trunk: TrunkName,
    ) {
        let plan = &self.config.outside.dialplan;
        // The number called: the Request-URI's user, unless that is no DID and the To header's
        // is (a carrier sending calls to a registration's Contact puts the account there).
        let as_number = |user: &str| plan.e164(user).unwrap_or_else(|| user.to_string());
        let in_uri = as_number(req.uri.user_base().unwrap_or_default());
        let in_to = req
            .headers
            .to()
            .and_then(|t| t.uri.user_base().map(as_number))
            .filter(|n| self.trunks.dids.contains_key(n));
        let number = match in_to {
            Some(to) if !self.trunks.dids.contains_key(&in_uri) => to,
            _ => in_uri,
        };
        let from = req
            .headers
            .from()
            .and_then(|f| f.uri.user_base().map(str::to_string))
            .unwrap_or_default();
        let caller = plan.e164(&from).unwrap_or_else(|| shown_number(&from));
        let target = self.trunks.dids.get(&number).cloned().or_else(|| {
            self.config
                .outside
                .inbound_default
                .clone()
                .map(DidTarget::Extension)
        });
        info!(%trunk, number = %crate::text::Printable(&number), %caller, to = ?target, "call from outside");
        if self
            .trunk_config(&trunk)
            .is_some_and(|t| self.trunk_full(t))
        {
            info!(%trunk, "call from outside refused: the trunk carries its most calls");
            self.explain(
                tx,
                &req,
                StatusCode::SERVICE_UNAVAILABLE,
                "Too Many Calls On This Trunk",
            );
            return self.refused_inbound(now, &caller, &number, &trunk);
        }
        match target {
            Some(DidTarget::Extension(ext)) => self.look_up_extension(tx, req, source, caller, ext),
            Some(DidTarget::Mailbox(mailbox)) => {
                self.look_up_mailbox(tx, req, source, caller, mailbox, Reason::Unavailable)
            }
            None => {
                self.reply(tx, &req, StatusCode::NOT_FOUND);
                self.refused_inbound(now, &caller, &number, &trunk);
            }
        }
    }

    /// An authenticated caller dialled `number` outside.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn dial_out(
        &mut self,
        now: Instant,
        tx: TxId,
        req: Request,
        source: Target,
        caller: String,
        account: Option<Account>,
        number: Outside,
    ) {
        let emergency = number.class == NumberClass::Emergency;
        let account = match account {
            Some(a) => a,
            // The directory could not be read: an emergency call still goes out, with the
            // company's number.
            None if emergency => Account {
                name: caller.clone(),
                always_prompt: true,
                mark_read: false,
                greetings: crate::vm::Greetings::default(),
                dial_class: crate::trunk::dialplan::DialClass::Internal,
                outside_number: None,
                routing: Default::default(),
                follow_me_pin: false,
            },
            None => {
                self.reply(tx, &req, StatusCode::FORBIDDEN);
                return self.refused_outside(now, &caller, &number.number);
            }
        };
        if let Err(why) = self.outside_allowed(now, &caller, source, &account, &number) {
            self.explain(tx, &req, StatusCode::FORBIDDEN, &why);
            return self.refused_outside(now, &caller, &number.number);
        }
        let caller_id = account
            .outside_number
            .clone()
            .or_else(|| self.config.outside.main_number.clone())
            .unwrap_or_else(|| caller.clone());
        let mut legs = match self.outside_legs(&number, &caller_id, &req) {
            Ok(legs) => legs.into_iter(),
            Err(NoLeg::Codecs) => {
                info!(caller = %caller, number = %number.number, "outside call refused: no trunk takes the phone's codecs");
                self.explain(
                    tx,
                    &req,
                    StatusCode::NOT_ACCEPTABLE_HERE,
                    "No Outside Line Takes These Codecs",
                );
                return self.refused_outside(now, &caller, &number.number);
            }
            Err(NoLeg::Trunk) => {
                info!(caller = %caller, number = %number.number, "outside call refused: no trunk can carry it");
                self.explain(
                    tx,
                    &req,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "No Outside Line Available",
                );
                return self.refused_outside(now, &caller, &number.number);
            }
        };
        let Some(first) = legs.next() else {
            return self.refused_outside(now, &caller, &number.number);
        };
        if !emergency {
            let limits = self.config.outside.limits;
            self.outside_hourly.placed(now, &caller, &limits);
        }
        info!(caller = %caller, number = %number.number, class = number.class.as_str(), via = %first.target, alternates = legs.len(), %caller_id, anonymous = number.anonymous, "calling outside");
        self.ring(Planned {
            tx,
            invite: req,
            source,
            caller_name: Some(account.name.clone()),
            payer: caller.clone(),
            caller,
            callee: number.number,
            forks: vec![first],
            account,
            divert: false,
            ring_for: Some(OUTSIDE_RING),
            alternates: legs.collect(),
            next_attempts: Vec::new(),
            finally: crate::routing::Finally::HangUp,
            forwarded: None,
            on_busy: false,
        });
    }

    /// A user's route forwards an unanswered call to `number` outside (its Finally route): the call
    /// goes out as if the user had dialled it (the user's dialling class and outside-call limits),
    /// showing the company's central number with the caller's name, the caller's leg kept. When
    /// it cannot go (not allowed, over a limit, no trunk), the leg is handed back for the user's
    /// voicemail. A call it places that is not answered ends with the far end's answer (busy,
    /// unavailable): the number was the end of the route.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward_out(
        &mut self,
        now: Instant,
        leg: crate::call::ALeg,
        caller: &str,
        user: &str,
        account: &Account,
        number: &str,
        since: Option<Instant>,
        (hops, visited): (u32, Vec<String>),
    ) -> Result<(), Box<crate::call::ALeg>> {
        let number = match self.config.outside.dialplan.outside(number) {
            Some(Ok(n)) if n.class != NumberClass::Emergency => n,
            _ => {
                info!(%user, number = %number, "the route's number is not one Parley can call: voicemail");
                return Err(Box::new(leg));
            }
        };
        if let Err(why) = self.outside_allowed(now, user, leg.source, account, &number) {
            info!(%user, number = %number.number, why, "the route cannot forward outside: voicemail");
            return Err(Box::new(leg));
        }
        let caller_id = self
            .config
            .outside
            .main_number
            .clone()
            .or_else(|| account.outside_number.clone())
            .unwrap_or_else(|| user.to_string());
        let mut legs = match self.outside_legs(&number, &caller_id, &leg.invite) {
            Ok(legs) => legs.into_iter(),
            Err(_) => {
                info!(%user, number = %number.number, "no trunk can carry the route's forward: voicemail");
                return Err(Box::new(leg));
            }
        };
        let Some(first) = legs.next() else {
            return Err(Box::new(leg));
        };
        let limits = self.config.outside.limits;
        self.outside_hourly.placed(now, user, &limits);
        info!(from = %user, number = %number.number, via = %first.target, %caller_id, hops = hops + 1, "call forwarded outside by the callee's route");
        self.ring(Planned {
            tx: leg.tx,
            invite: leg.invite,
            source: leg.source,
            caller: caller.to_string(),
            caller_name: None,
            payer: user.to_string(),
            callee: number.number,
            forks: vec![first],
            account: account.clone(),
            divert: false,
            ring_for: Some(OUTSIDE_RING),
            alternates: legs.collect(),
            next_attempts: Vec::new(),
            finally: crate::routing::Finally::HangUp,
            forwarded: Some(super::calls::Forwarded {
                tag: leg.tag,
                since: since.unwrap_or(now),
                hops: hops + 1,
                visited,
            }),
            on_busy: false,
        });
        Ok(())
    }

    /// Whether `payer` may have a call to `number` placed now: its dialling class, and (but for an
    /// emergency call) the outside-call limits, a refusal by a limit audited and alerted as the
    /// limits say. Err: why not, for the caller.
    pub(super) fn outside_allowed(
        &mut self,
        now: Instant,
        payer: &str,
        source: Target,
        account: &Account,
        number: &Outside,
    ) -> Result<(), String> {
        let premium = self.config.outside.allow_premium;
        if !account.dial_class.allows(number.class, premium) {
            info!(caller = %payer, number = %number.number, class = number.class.as_str(), allowed = %account.dial_class, "outside call refused: not allowed for this extension");
            return Err(format!("{} calls are not allowed", number.class.as_str()));
        }
        if number.class == NumberClass::Emergency {
            return Ok(());
        }
        let limits = self.config.outside.limits;
        let (mine, all) = (self.outside_calls(Some(payer)), self.outside_calls(None));
        let Some(tripped) = self.outside_hourly.check(now, payer, mine, all, &limits) else {
            return Ok(());
        };
        let report = self.outside_hourly.refused(now, payer, tripped);
        let why = tripped.reason();
        tracing::warn!(caller = %payer, number = %number.number, limit = tripped.name(), mine, all, alert = report.alert, "outside call refused: over a limit");
        if report.audit || report.alert {
            self.out
                .push_back(super::Command::OutsideLimit(super::LimitRefusal {
                    caller: payer.to_string(),
                    source: source.addr.ip(),
                    number: number.number.clone(),
                    limit: tripped.name(),
                    reason: why.clone(),
                    audit: report.audit,
                    alert: report.alert,
                }));
        }
        Err(why)
    }

    /// The legs of a call to `number` through the trunks that can carry it now, in the order they
    /// are tried, each written as its trunk asks and showing `caller_id`; only trunks that take
    /// one of the codecs `invite` offers (an emergency call goes out whatever the codecs: better a
    /// carrier that might refuse it than no call at all).
    pub(super) fn outside_legs(
        &self,
        number: &Outside,
        caller_id: &str,
        invite: &Request,
    ) -> Result<Vec<ForkTarget>, NoLeg> {
        let emergency = number.class == NumberClass::Emergency;
        let plan = &self.config.outside.dialplan;
        let offered = crate::sdp::AudioSession::parse(&invite.body)
            .map(|o| o.formats)
            .unwrap_or_default();
        let mut codec_misfit = false;
        let legs: Vec<ForkTarget> = self
            .usable_trunks(&number.number, emergency)
            .into_iter()
            .filter_map(|(trunk, target)| {
                let o = &trunk.options;
                let fits = crate::call::offer_fits(&offered, &o.codecs);
                if !fits && !emergency {
                    codec_misfit = true;
                    return None;
                }
                let host = uri_host(&trunk.host);
                let to = plan.format(&number.number, o.number_format);
                let uri = if trunk.port == 5060 {
                    format!("sip:{to}@{host}")
                } else {
                    format!("sip:{to}@{host}:{}", trunk.port)
                };
                Some(ForkTarget {
                    owner: number.number.clone(),
                    uri: SipUri::parse(&uri).ok()?,
                    target,
                    outward: Some(Outward {
                        trunk: trunk.name.clone(),
                        from_user: plan.format(caller_id, o.number_format),
                        to_user: to,
                        host,
                        auth: trunk.auth.clone(),
                        caller_id: o.caller_id,
                        anonymous: number.anonymous,
                        codecs: if fits { o.codecs.clone() } else { Vec::new() },
                        screen: None,
                    }),
                })
            })
            .collect();
        match (legs.is_empty(), codec_misfit) {
            (false, _) => Ok(legs),
            (true, true) => Err(NoLeg::Codecs),
            (true, false) => Err(NoLeg::Trunk),
        }
    }
}

/// Why a call to the outside has no leg.
pub(super) enum NoLeg {
    /// The trunks that could carry it take none of the codecs offered.
    Codecs,
    /// No trunk can carry it now.
    Trunk,
}

impl Switch {
    /// Before a leg's failure may hand an outside call to its next trunk: drop the trunks that
    /// cannot take it now (found down by their keep-alive, unregistered, or full since the call was
    /// placed), so that failover asks the same question as the first choice.
    pub(super) fn prune_alternates(&mut self, id: CallId) {
        let Some(e) = self.calls.get(&id) else {
            return;
        };
        if !e.call.has_alternates() {
            return;
        }
        let number = e.call.parties().1.to_string();
        let emergency = self.config.outside.dialplan.emergency.contains(&number);
        let usable: Vec<TrunkName> = self
            .usable_trunks(&number, emergency)
            .into_iter()
            .map(|(t, _)| t.name.clone())
            .collect();
        if let Some(e) = self.calls.get_mut(&id) {
            e.call.retain_alternates(|t| usable.contains(t));
        }
    }

    /// The record of a call from `trunk` refused before anything rang.
    fn refused_inbound(&mut self, now: Instant, caller: &str, number: &str, trunk: &TrunkName) {
        self.refused_via(
            now,
            caller,
            number,
            Outcome::Failed,
            Direction::Inbound,
            Some(trunk),
        );
    }

    /// The record of a call to the outside refused before any trunk rang.
    fn refused_outside(&mut self, now: Instant, caller: &str, number: &str) {
        self.refused_via(
            now,
            caller,
            number,
            Outcome::Failed,
            Direction::Outbound,
            None,
        );
    }
}

/// A caller's number that is not one (`anonymous`, a SIP name) as it may be shown and written into a
/// URI: letters, digits and `+-_.*#`, at most 32, else `anonymous`.
fn shown_number(from: &str) -> String {
    let kept: String = from
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+-_.*#".contains(*c))
        .take(32)
        .collect();
    if kept.is_empty() {
        "anonymous".into()
    } else {
        kept
    }
}
