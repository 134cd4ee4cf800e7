//! The switch's trunks: the set the administrator configured (replaced whole by
//! [`Switch::set_trunks`]), and for each registering one its [`Registration`], whose REGISTERs become
//! [`Command::Send`]s with a [`ClientRoute::Register`] and whose timers are the switch's. A trunk that
//! changes or goes away removes its binding at the carrier first (`Expires: 0`); that registration is
//! kept, apart, until its removal is answered or times out.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::status::TrunkView;
use super::{ClientRoute, Command, Switch};
use crate::sip::{Response, SipUri};
use crate::target::{Target, Transport};
use crate::trunk::keepalive::{KeepAlive, KeepAliveConfig};
use crate::trunk::{
    Did, DidTarget, RegState, Registration, RegistrationConfig, TrunkConfig, TrunkName,
};

/// When registrations to carriers retry after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrunkRetry {
    /// The first wait after a failure; each further failure doubles it.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for TrunkRetry {
    /// 20 seconds, doubling up to 10 minutes (a carrier that refuses us is not hammered, one that was
    /// briefly away is back within a minute).
    fn default() -> Self {
        TrunkRetry {
            first: Duration::from_secs(20),
            max: Duration::from_secs(600),
        }
    }
}

/// At most this many removed or changed trunks wait for the answer to their un-REGISTER (each for
/// at most a transaction's timeout); past it the oldest is forgotten.
const MAX_RETIRING: usize = 64;

/// A registration the switch drives, with where its REGISTERs go.
#[derive(Debug)]
struct Reg {
    id: u64,
    trunk: TrunkName,
    target: Target,
    reg: Registration,
}

/// A trunk's OPTIONS keep-alive, with where its probes go.
#[derive(Debug)]
struct Probe {
    id: u64,
    target: Target,
    keep: KeepAlive,
}

/// A configured trunk.
#[derive(Debug)]
struct Line {
    config: TrunkConfig,
    reg: Option<Reg>,
    probe: Option<Probe>,
    /// Why a registering trunk cannot register (its host could not be resolved, …).
    error: Option<String>,
}

/// Every trunk of the switch.
#[derive(Debug, Default)]
pub(super) struct Trunks {
    lines: BTreeMap<TrunkName, Line>,
    /// The company's numbers, by E.164.
    pub(super) dids: BTreeMap<String, DidTarget>,
    retiring: VecDeque<Reg>,
    next_reg: u64,
}

impl Trunks {
    fn regs(&self) -> impl Iterator<Item = &Reg> {
        self.lines
            .values()
            .filter_map(|l| l.reg.as_ref())
            .chain(self.retiring.iter())
    }

    fn regs_mut(&mut self) -> impl Iterator<Item = &mut Reg> {
        self.lines
            .values_mut()
            .filter_map(|l| l.reg.as_mut())
            .chain(self.retiring.iter_mut())
    }

    /// When a registration's or a keep-alive's timer is next due.
    pub(super) fn poll_timeout(&self) -> Option<(Instant, &'static str)> {
        let reg = self
            .regs()
            .filter_map(|r| r.reg.poll_timeout())
            .min()
            .map(|t| (t, "trunk registration"));
        let probe = self
            .lines
            .values()
            .filter_map(|l| l.probe.as_ref()?.keep.poll_timeout())
            .min()
            .map(|t| (t, "trunk keep-alive"));
        reg.into_iter().chain(probe).min()
    }

    fn probe_mut(&mut self, id: u64) -> Option<(&TrunkName, &mut KeepAlive)> {
        self.lines.values_mut().find_map(|l| match &mut l.probe {
            Some(p) if p.id == id => Some((&l.config.name, &mut p.keep)),
            _ => None,
        })
    }
}

impl Switch {
    /// The trunks are now `trunks` (each name once; a later duplicate is ignored). A trunk whose
    /// configuration is unchanged keeps its registration as it is; a new one starts registering now;
    /// a changed or removed one removes its binding at the carrier.
    pub fn set_trunks(&mut self, now: Instant, trunks: Vec<TrunkConfig>) {
        let mut old = std::mem::take(&mut self.trunks.lines);
        for config in trunks {
            let name = config.name.clone();
            if self.trunks.lines.contains_key(&name) {
                continue;
            }
            match old.remove(&name) {
                Some(line) if line.config == config => {
                    self.trunks.lines.insert(name, line);
                }
                Some(line) => self.change_line(now, line, config),
                None => self.add_line(now, config, None),
            }
        }
        for (_, line) in old {
            self.retire(now, line);
        }
        self.send_registers();
        self.fire_probes(now);
        self.changed = true;
    }

    /// What a registering trunk's registration is (and where its REGISTERs go), or why it has none.
    fn registration_config(
        &self,
        config: &TrunkConfig,
    ) -> Option<Result<(Target, RegistrationConfig), String>> {
        let login = config.login.as_ref()?;
        let target = match &config.target {
            Ok(t) => *t,
            Err(e) => return Some(Err(e.clone())),
        };
        let Ok(registrar) = SipUri::parse(&config.registrar_uri()) else {
            return Some(Err("the registrar URI is not valid".into()));
        };
        let local = &self.config.local;
        let transport = match target.transport {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
            Transport::Tls => ";transport=tls",
        };
        Some(Ok((
            target,
            RegistrationConfig {
                registrar,
                username: login.username.clone(),
                auth_username: login.auth_username.clone(),
                secret: login.secret.clone(),
                expires: login.expires,
                retry_first: self.config.trunk_retry.first,
                retry_max: self.config.trunk_retry.max,
                contact: format!(
                    "<sip:{}@{}:{}{transport}>",
                    login.username, local.host, local.port
                ),
                via_host: format!("{}:{}", local.host, local.port),
                transport: target.transport,
            },
        )))
    }

    /// A trunk that is new (or starts anew): `probe`, its keep-alive before, is kept if it probes
    /// the same way.
    fn add_line(&mut self, now: Instant, config: TrunkConfig, probe: Option<Probe>) {
        let name = config.name.clone();
        let mut line = Line {
            reg: None,
            probe: self.probe_for(now, &config, probe),
            error: None,
            config,
        };
        match self.registration_config(&line.config) {
            None => {}
            Some(Err(e)) => {
                tracing::warn!(trunk = %name, error = %e, "the trunk cannot register");
                line.error = Some(e);
            }
            Some(Ok((target, rc))) => {
                let mut reg = Registration::new(rc, self.ids.next_u64());
                reg.start(now);
                self.trunks.next_reg += 1;
                line.reg = Some(Reg {
                    id: self.trunks.next_reg,
                    trunk: name.clone(),
                    target,
                    reg,
                });
                tracing::info!(trunk = %name, %target, "registering to the trunk");
            }
        }
        self.trunks.lines.insert(name, line);
    }

    /// A trunk's configuration changed: a registration of the same binding at the same address takes
    /// the new settings in place (one REGISTER, nothing removed); otherwise the old binding is
    /// removed and the trunk starts anew.
    fn change_line(&mut self, now: Instant, mut line: Line, config: TrunkConfig) {
        let new = self.registration_config(&config);
        if let (Some(r), Some(Ok((target, rc)))) = (line.reg.as_mut(), &new) {
            if r.target == *target && r.reg.same_binding(rc) {
                r.reg.reconfigure(now, rc.clone());
                tracing::info!(trunk = %config.name, "the trunk's settings changed; registering with them");
                line.probe = self.probe_for(now, &config, line.probe.take());
                line.config = config;
                line.error = None;
                let name = line.config.name.clone();
                self.trunks.lines.insert(name, line);
                return;
            }
        }
        let probe = line.probe.take();
        self.retire(now, line);
        self.add_line(now, config, probe);
    }

    /// The keep-alive of a trunk that asks for one (and has an address). `old`, the trunk's
    /// keep-alive before its settings changed, is kept when it probes the same address the same
    /// way: a carrier found down stays down until it answers, whatever else the administrator
    /// changed.
    fn probe_for(
        &mut self,
        now: Instant,
        config: &TrunkConfig,
        old: Option<Probe>,
    ) -> Option<Probe> {
        let interval = config.options.keepalive?;
        let target = *config.target.as_ref().ok()?;
        let uri = SipUri::parse(&config.registrar_uri()).ok()?;
        let local = &self.config.local;
        let keep = KeepAliveConfig {
            uri,
            via_host: format!("{}:{}", local.host, local.port),
            from: format!("sip:parley@{}", local.host),
            transport: target.transport,
            interval,
        };
        if let Some(old) = old.filter(|o| o.target == target && *o.keep.config() == keep) {
            return Some(old);
        }
        self.trunks.next_reg += 1;
        Some(Probe {
            id: self.trunks.next_reg,
            target,
            keep: KeepAlive::new(now, keep, self.ids.next_u64()),
        })
    }

    /// Send the keep-alives' probes.
    fn send_probes(&mut self) {
        let mut sends = Vec::new();
        for p in self
            .trunks
            .lines
            .values_mut()
            .filter_map(|l| l.probe.as_mut())
        {
            while let Some(request) = p.keep.poll_request() {
                sends.push(Command::Send {
                    request,
                    target: p.target,
                    route: ClientRoute::Options { probe: p.id },
                });
            }
        }
        self.out.extend(sends);
    }

    /// A carrier's answer to a keep-alive.
    pub(super) fn probe_response(&mut self, now: Instant, id: u64, response: &Response) {
        if let Some((trunk, keep)) = self.trunks.probe_mut(id) {
            if keep.handle_response(now, response) {
                log_probe(trunk, keep);
                self.changed = true;
            }
        }
    }

    /// A keep-alive went unanswered.
    pub(super) fn probe_failed(&mut self, now: Instant, id: u64) {
        if let Some((trunk, keep)) = self.trunks.probe_mut(id) {
            if keep.handle_failed(now) {
                log_probe(trunk, keep);
                self.changed = true;
            }
        }
    }

    /// A trunk changed or went: its binding at the carrier is removed.
    fn retire(&mut self, now: Instant, line: Line) {
        let Some(mut r) = line.reg else { return };
        r.reg.stop(now);
        if !r.reg.is_idle() {
            if self.trunks.retiring.len() == MAX_RETIRING {
                self.trunks.retiring.pop_front();
            }
            self.trunks.retiring.push_back(r);
        }
    }

    /// Send what the registrations want sent; forget retired ones that are done.
    fn send_registers(&mut self) {
        let mut sends = Vec::new();
        for r in self.trunks.regs_mut() {
            while let Some(request) = r.reg.poll_request() {
                sends.push(Command::Send {
                    request,
                    target: r.target,
                    route: ClientRoute::Register { reg: r.id },
                });
            }
        }
        self.out.extend(sends);
        self.trunks.retiring.retain(|r| !r.reg.is_idle());
    }

    /// A carrier's answer to a REGISTER.
    pub(super) fn register_response(&mut self, now: Instant, id: u64, response: &Response) {
        if let Some(r) = self.trunks.regs_mut().find(|r| r.id == id) {
            let before = r.reg.state().clone();
            r.reg.handle_response(now, response);
            if *r.reg.state() != before {
                log_state(&r.trunk, r.reg.state(), now);
                self.changed = true;
            }
        }
        self.send_registers();
    }

    /// A REGISTER's transaction ended without an answer.
    pub(super) fn register_failed(&mut self, now: Instant, id: u64) {
        if let Some(r) = self.trunks.regs_mut().find(|r| r.id == id) {
            r.reg.handle_failed(now);
            log_state(&r.trunk, r.reg.state(), now);
            self.changed = true;
        }
        self.send_registers();
    }

    /// Refresh and retry registrations that are due.
    pub(super) fn trunk_timeouts(&mut self, now: Instant) {
        let mut fired = false;
        for r in self.trunks.regs_mut() {
            if r.reg.poll_timeout().is_some_and(|t| t <= now) {
                r.reg.handle_timeout(now);
                fired = true;
            }
        }
        if fired {
            self.changed = true;
            self.send_registers();
        }
        self.fire_probes(now);
    }

    /// Send the keep-alive probes that are due.
    fn fire_probes(&mut self, now: Instant) {
        let mut probed = false;
        for p in self
            .trunks
            .lines
            .values_mut()
            .filter_map(|l| l.probe.as_mut())
        {
            if p.keep.poll_timeout().is_some_and(|t| t <= now) {
                p.keep.handle_timeout(now);
                probed = true;
            }
        }
        if probed {
            self.send_probes();
        }
    }

    /// Remove every binding at the carriers (the server stops).
    pub(super) fn unregister_all(&mut self, now: Instant) {
        let lines = std::mem::take(&mut self.trunks.lines);
        for (_, line) in lines {
            self.retire(now, line);
        }
        self.send_registers();
    }

    /// The company's numbers are now `dids` (a later duplicate of a number is ignored).
    pub fn set_dids(&mut self, dids: Vec<Did>) {
        let mut map = BTreeMap::new();
        for d in dids {
            map.entry(d.number).or_insert(d.target);
        }
        self.trunks.dids = map;
    }

    /// The trunk whose calls come from `ip`: its address, or one of an IP peer's.
    pub(super) fn trunk_of(&self, ip: std::net::IpAddr) -> Option<&TrunkName> {
        let ip = crate::target::canonical_ip(ip);
        self.trunks.lines.values().find_map(|l| {
            let own = l
                .config
                .target
                .as_ref()
                .is_ok_and(|t| crate::target::canonical_ip(t.addr.ip()) == ip);
            let peer = l
                .config
                .peers
                .iter()
                .any(|p| crate::target::canonical_ip(*p) == ip);
            (own || peer).then_some(&l.config.name)
        })
    }

    /// Calls through `trunk` now, both ways: B2BUA calls in or out, calls being set up (those from
    /// it still waiting for the directory among them, so that a burst cannot outrun the limit),
    /// voicemail calls from it.
    pub(super) fn calls_on(&self, trunk: &TrunkName) -> usize {
        let from_it = |ip: std::net::IpAddr| self.trunk_of(ip) == Some(trunk);
        let calls = self
            .calls
            .values()
            .filter(|e| e.inbound.as_ref() == Some(trunk) || e.call.trunk() == Some(trunk))
            .count();
        let opening = self
            .opening
            .values()
            .filter(|o| match o {
                super::Opening::Relay(p) => {
                    from_it(p.source.addr.ip())
                        || p.forks
                            .iter()
                            .any(|f| f.outward.as_ref().is_some_and(|o| o.trunk == *trunk))
                }
                super::Opening::Voicemail(p) => from_it(p.source_ip()),
            })
            .count();
        let voicemail = self
            .voicemail
            .values()
            .filter(|v| v.trunk() == Some(trunk.as_str()))
            .count();
        let waiting = self
            .pending
            .values()
            .filter(|p| matches!(p, super::Pending::Invite(w) if from_it(w.source_addr())))
            .count();
        calls + opening + voicemail + waiting
    }

    /// Whether `trunk` carries as many calls as it may.
    pub(super) fn trunk_full(&self, trunk: &TrunkConfig) -> bool {
        trunk
            .options
            .max_calls
            .is_some_and(|max| self.calls_on(&trunk.name) >= max as usize)
    }

    /// The trunks a call to `number` may go through, in the order they are tried: those that can
    /// carry it now (IP peers, and registering trunks that are registered; none that its OPTIONS
    /// found down or that carries its most calls), whose patterns take the number, the longest
    /// match first, then by name. For an emergency call, failing those, any trunk with an address
    /// (a carrier may take it whatever our registration's state).
    pub(super) fn usable_trunks(
        &self,
        number: &str,
        emergency: bool,
    ) -> Vec<(&TrunkConfig, Target)> {
        let mut up: Vec<_> = self
            .trunks
            .lines
            .values()
            .filter_map(|l| {
                let target = *l.config.target.as_ref().ok()?;
                let fit = l.config.options.fits(number, emergency)?;
                let up = match &l.reg {
                    None => l.config.login.is_none(),
                    Some(r) => matches!(r.reg.state(), RegState::Registered { .. }),
                } && l.probe.as_ref().is_none_or(|p| p.keep.down().is_none())
                    && !self.trunk_full(&l.config);
                up.then_some((fit, &l.config, target))
            })
            .collect();
        // Stable: trunks that fit as well stay in name order.
        up.sort_by_key(|(fit, _, _)| std::cmp::Reverse(*fit));
        if !up.is_empty() || !emergency {
            return up.into_iter().map(|(_, c, t)| (c, t)).collect();
        }
        self.trunks
            .lines
            .values()
            .filter_map(|l| Some((&l.config, *l.config.target.as_ref().ok()?)))
            .collect()
    }

    /// A trunk's configuration, by name.
    pub(super) fn trunk_config(&self, name: &TrunkName) -> Option<&TrunkConfig> {
        self.trunks.lines.get(name).map(|l| &l.config)
    }

    /// The trunks as `parley trunk status` shows them.
    pub(super) fn trunk_views(&self, now: Instant) -> Vec<TrunkView> {
        self.trunks
            .lines
            .values()
            .map(|l| {
                let mut v = TrunkView {
                    name: l.config.name.to_string(),
                    kind: l.config.kind().into(),
                    address: match &l.config.target {
                        Ok(t) => t.to_string(),
                        Err(_) => format!("{}:{}", l.config.host, l.config.port),
                    },
                    state: "peer".into(),
                    calls: self.calls_on(&l.config.name),
                    reason: l.error.clone(),
                    expires_in: None,
                    retry_in: None,
                };
                if l.config.login.is_some() {
                    v.state = "failed".into();
                }
                if let Some(r) = &l.reg {
                    match r.reg.state() {
                        RegState::Unregistered => v.state = "unregistered".into(),
                        RegState::Registering => v.state = "registering".into(),
                        RegState::Registered { until } => {
                            v.state = "registered".into();
                            v.expires_in = Some(until.saturating_duration_since(now).as_secs());
                        }
                        RegState::Failed { reason, retry_at } => {
                            v.state = "failed".into();
                            v.reason = Some(reason.clone());
                            v.retry_in = Some(retry_at.saturating_duration_since(now).as_secs());
                        }
                    }
                }
                if let Some(why) = l.probe.as_ref().and_then(|p| p.keep.down()) {
                    v.state = "down".into();
                    v.reason = Some(why.to_string());
                }
                v
            })
            .collect()
    }
}

fn log_probe(trunk: &TrunkName, keep: &KeepAlive) {
    match keep.down() {
        Some(why) => {
            tracing::warn!(%trunk, reason = why, "the trunk is down: no calls go through it")
        }
        None => tracing::info!(%trunk, "the trunk answers OPTIONS again: it is up"),
    }
}

fn log_state(trunk: &TrunkName, state: &RegState, now: Instant) {
    match state {
        RegState::Registered { until } => tracing::info!(
            %trunk,
            expires_in = until.saturating_duration_since(now).as_secs(),
            "registered to the trunk"
        ),
        RegState::Failed { reason, retry_at } => tracing::warn!(
            %trunk,
            %reason,
            retry_in = retry_at.saturating_duration_since(now).as_secs(),
            "registration to the trunk failed"
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
