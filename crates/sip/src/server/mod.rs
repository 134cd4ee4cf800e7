//! The SIP server's shell: one task that feeds the [`Switch`] (in `parley_core`) what the adapter
//! receives, what lookups and media report, and the clock, and carries out the commands it drains:
//! send SIP, open and steer relays and media ends, run lookups and voicemail IO in tasks of their own,
//! write call records. It decides nothing about calls, and it awaits neither the database nor the disk
//! on the signalling path.

mod contain;
mod trunks;
mod worker;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use parley_core::limits::Limits;
use parley_core::sip::Request;
use parley_core::switch::status::{Status, StatusHandle};
use parley_core::switch::{
    Account, CallId, CallSummary, ClientRoute, Command, Control, CountFor, Counts, JobId, Switch,
    VmInput, VmIo,
};
pub use parley_core::switch::{SwitchConfig, VmSettings};
use parley_store::Store;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, info_span, warn, Instrument};

use crate::adapter::{Adapter, AdapterError, Inbound, TxId};
use crate::prompts::Prompts;
use parley_rtp::media::{Media, MediaEvent};
use parley_rtp::relay::{Engine, PortRange, Relay};

/// Settings of the SIP server: its sockets, and the switch's settings it starts the switch with.
#[derive(Debug, Clone)]
pub struct SipConfig {
    /// Where SIP listens (UDP and TCP).
    pub listen: SocketAddr,
    /// The address written into Via, Contact and SDP.
    pub public_ip: IpAddr,
    /// RTP port range (inclusive).
    pub rtp_ports: (u16, u16),
    /// The relay's event loops (0: one per core).
    pub relay_threads: usize,
    /// Bounds of the transports (TCP connections, their idle timeout).
    pub transport: crate::adapter::TransportLimits,
    /// The switch's settings (its addresses, limits, voicemail, digest).
    pub switch: SwitchConfig,
}

/// What comes back to the signalling task from the tasks it started.
pub(super) enum Back {
    Credentials(JobId, Result<Option<String>, ()>),
    Accounts(JobId, Result<Vec<Option<Account>>, ()>),
    Counts(String, CountFor, Counts),
    Vm(CallId, VmInput),
    /// A key pressed on the Follow-Me leg a call's relay screens.
    ScreenKey(CallId, char),
    /// The mailbox PIN a Follow-Me leg entered, checked.
    ScreenPin(CallId, u64, parley_core::switch::PinCheck),
    /// Trunks and numbers read by reload number `.0` (older reloads' answers are dropped).
    Trunks(
        u64,
        Vec<parley_core::trunk::TrunkConfig>,
        Vec<parley_core::trunk::Did>,
    ),
    Lamp {
        mailbox: String,
        on: bool,
        counts: Counts,
        reply: parley_core::switch::Reply<usize>,
    },
}

/// A voicemail call's media end and the queue of its IO.
struct VmHandle {
    io: mpsc::UnboundedSender<VmIo>,
    stats: Arc<parley_rtp::media::MediaStats>,
}

struct Shell {
    switch: Switch,
    adapter: Adapter,
    store: Store,
    ports: PortRange,
    /// The relay's event loops, serving every relayed call's sockets and the conference rooms.
    engine: Arc<Engine>,
    relays: HashMap<CallId, Relay>,
    vms: HashMap<CallId, VmHandle>,
    routes: HashMap<TxId, ClientRoute>,
    back: mpsc::UnboundedSender<Back>,
    prompts: Arc<Mutex<Prompts>>,
    /// The conference rooms in session (their audio).
    rooms: parley_rtp::conference::Rooms,
    status: StatusHandle,
    /// After a timer's handling faulted: no timer fires before this.
    timers_paused_until: Option<Instant>,
    /// How many times the trunks were read (the answer of the latest is the one taken).
    trunk_reloads: u64,
    /// The address each trunk host resolved to last.
    resolved: trunks::Resolved,
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
    let (back, mut back_rx) = mpsc::unbounded_channel();
    let start = now();
    store
        .recover_recordings(config.switch.vm.menus.min_message)
        .await;
    // Expired and canceled conferences 30 days old go (the seed: at each start of the server).
    match store.prune_conferences(unix_now() as i64).await {
        Ok(0) => {}
        Ok(n) => info!(
            conferences = n,
            "expired and canceled conferences older than 30 days deleted"
        ),
        Err(e) => warn!(error = %e, "old conferences could not be deleted"),
    }
    // Recordings in progress are touched, and (on a shared database) those of stopped nodes
    // recovered, off the signalling task.
    let tender = {
        let store = store.clone();
        let min = config.switch.vm.menus.min_message;
        tokio::spawn(async move {
            let mut every = tokio::time::interval(parley_store::TEND_EVERY);
            loop {
                every.tick().await;
                store.tend_recordings(min).await;
            }
        })
    };
    let switch = Switch::new(start, config.switch.clone());
    let engine = Arc::new(
        Engine::start(config.relay_threads).map_err(|e| AdapterError::Relay(e.to_string()))?,
    );
    let rooms = parley_rtp::conference::Rooms::new(Arc::clone(&engine));
    let mut shell = Shell {
        switch,
        adapter,
        ports: PortRange::new(
            config.public_ip_bind(),
            config.rtp_ports.0,
            config.rtp_ports.1,
        ),
        engine,
        store,
        relays: HashMap::new(),
        vms: HashMap::new(),
        routes: HashMap::new(),
        back,
        prompts: Arc::new(Mutex::new(Prompts::new(config.switch.vm.prompts.clone()))),
        rooms,
        status,
        timers_paused_until: None,
        trunk_reloads: 0,
        resolved: trunks::Resolved::default(),
    };
    info!(listen = %config.listen, public_ip = %config.public_ip, "SIP server listening on UDP and TCP");
    let mut refresh = tokio::time::interval(Duration::from_secs(1));
    // The first tick is at once: the trunks are read at start.
    let mut trunk_reload = tokio::time::interval(trunks::RELOAD_EVERY);
    loop {
        let deadline = shell.next_deadline();
        tokio::select! {
            _ = cancel.cancelled() => break,
            // Relay counters move without SIP events: refresh the status while calls are up.
            _ = refresh.tick(), if shell.switch.calls_in_progress() > 0 => shell.publish(),
            msg = inbound.recv() => {
                let Some(msg) = msg else { break };
                shell.inbound(msg);
            }
            Some(b) = back_rx.recv() => shell.back(b),
            Some(c) = control.recv() => shell.control(c),
            _ = trunk_reload.tick() => shell.reload_trunks(),
            _ = sleep_until(deadline) => shell.timers(),
        }
        shell.carry_out();
    }
    shell.switch.shutdown(now());
    shell.carry_out();
    // Voicemail calls finish what they recorded (their media closes, the session keeps the take)
    // before the store goes: at most two seconds.
    let deadline = now() + Duration::from_secs(2);
    while !shell.vms.is_empty() {
        tokio::select! {
            Some(b) = back_rx.recv() => shell.back(b),
            _ = tokio::time::sleep_until(deadline.into()) => break,
        }
        shell.carry_out();
    }
    tender.abort();
    // Give the BYEs a moment to leave before the transports close.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = shell.status.write().map(|mut s| *s = Status::default());
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
pub(super) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Shell {
    fn next_deadline(&self) -> Option<Instant> {
        self.switch
            .poll_timeout()
            .map(|(d, _)| self.timers_paused_until.map_or(d, |p| d.max(p)))
    }

    /// A message from the adapter; a fault costs only that message (a new request is answered 500).
    fn inbound(&mut self, msg: Inbound) {
        let t = now();
        let sw = &mut self.switch;
        match msg {
            Inbound::Request {
                tx,
                request,
                source,
            } => {
                let kept = request.clone();
                if let Some(fault) =
                    contain::contained_sync(|| sw.handle_request(t, tx, request, source))
                {
                    self.request_faulted(tx, &kept, &fault);
                }
            }
            Inbound::InTransaction { tx, request } => {
                if let Some(fault) =
                    contain::contained_sync(|| sw.handle_in_transaction(t, tx, request))
                {
                    error!(fault = %fault, "handling a CANCEL or ACK faulted; the server goes on");
                }
            }
            Inbound::ServerDone { tx } => sw.handle_server_done(tx),
            Inbound::Response { tx, response } => {
                if let Some(route) = self.routes.get(&tx) {
                    let call = route_call(route);
                    if let Some(fault) =
                        contain::contained_sync(|| sw.handle_response(t, route, response))
                    {
                        self.child_faulted(call, "response", &fault);
                    }
                }
            }
            Inbound::ClientDone { tx, final_seen } => {
                if let Some(route) = self.routes.remove(&tx) {
                    let call = route_call(&route);
                    if let Some(fault) =
                        contain::contained_sync(|| sw.handle_client_done(t, route, final_seen))
                    {
                        self.child_faulted(call, "transaction end", &fault);
                    }
                }
            }
        }
    }

    /// An answer from a lookup, a voicemail call's IO or its media.
    fn back(&mut self, b: Back) {
        let t = now();
        // The request a lookup answers, kept aside to be answered 500 should its handling fault.
        let waiting = match &b {
            Back::Credentials(job, _) | Back::Accounts(job, _) => self.switch.waiting_request(*job),
            _ => None,
        };
        let sw = &mut self.switch;
        let (call, fault) = match b {
            Back::Credentials(job, ha1) => (
                None,
                contain::contained_sync(|| sw.handle_credentials(t, job, ha1)),
            ),
            Back::Accounts(job, found) => (
                None,
                contain::contained_sync(|| sw.handle_accounts(t, job, found)),
            ),
            Back::Counts(mailbox, why, counts) => (
                None,
                contain::contained_sync(|| sw.handle_counts(t, &mailbox, why, counts)),
            ),
            Back::Vm(id, input) => (
                Some(id),
                contain::contained_sync(|| sw.handle_voicemail(t, id, input)),
            ),
            Back::ScreenKey(id, key) => (
                Some(id),
                contain::contained_sync(|| sw.handle_screen_digit(t, id, key)),
            ),
            Back::ScreenPin(id, screening, check) => (
                Some(id),
                contain::contained_sync(|| sw.handle_screen_pin(t, id, screening, check)),
            ),
            Back::Trunks(generation, list, dids) if generation == self.trunk_reloads => (
                None,
                contain::contained_sync(|| {
                    sw.set_dids(dids);
                    sw.set_trunks(t, list)
                }),
            ),
            Back::Trunks(..) => (None, None),
            Back::Lamp {
                mailbox,
                on,
                counts,
                reply,
            } => {
                let mut n = 0;
                let fault = contain::contained_sync(|| n = sw.set_lamp(t, &mailbox, counts, on));
                reply(n);
                (None, fault)
            }
        };
        if let Some(fault) = fault {
            match waiting {
                Some((tx, req)) => {
                    self.switch.abandon(tx);
                    self.request_faulted(tx, &req, &fault);
                }
                None => self.child_faulted(call, "an answer from a lookup or media", &fault),
            }
        }
    }

    fn control(&mut self, c: Control) {
        match c {
            Control::SetLamp { mailbox, on, reply } => {
                let store = self.store.clone();
                self.answer(async move {
                    let counts = store.counts_or_zero(&mailbox).await;
                    Back::Lamp {
                        mailbox,
                        on,
                        counts,
                        reply,
                    }
                });
            }
            Control::MailboxChanged(m) => self.switch.mailbox_changed(&m),
            Control::TrunksChanged => self.reload_trunks(),
            Control::AccountRemoved(ext) => {
                let sw = &mut self.switch;
                if let Some(fault) = contain::contained_sync(|| {
                    sw.account_removed(&ext);
                }) {
                    error!(fault = %fault, "an administrator's request faulted; the server goes on");
                }
            }
            Control::Unlock { what, reply } => {
                let sw = &mut self.switch;
                let mut lifted = false;
                if let Some(fault) = contain::contained_sync(|| lifted = sw.unlock(&what)) {
                    error!(fault = %fault, "an administrator's request faulted; the server goes on");
                }
                reply(lifted);
            }
            Control::EndConference { conference, reply } => {
                let (sw, t) = (&mut self.switch, now());
                let mut n = 0;
                if let Some(fault) =
                    contain::contained_sync(|| n = sw.end_conference(t, &conference))
                {
                    error!(fault = %fault, "an administrator's request faulted; the server goes on");
                }
                reply(n);
            }
            Control::Disconnect {
                conference,
                call,
                reply,
            } => {
                let (sw, t) = (&mut self.switch, now());
                let mut done = false;
                if let Some(fault) =
                    contain::contained_sync(|| done = sw.disconnect(t, &conference, call))
                {
                    error!(fault = %fault, "an administrator's request faulted; the server goes on");
                }
                reply(done);
            }
        }
    }

    /// Read the trunks from the store again (in a task of its own); the switch gets them whole, from
    /// the latest reload only (an older one finishing last must not bring a removed trunk or an old
    /// password back). While the database is away the trunks stay as they are.
    fn reload_trunks(&mut self) {
        self.trunk_reloads += 1;
        let generation = self.trunk_reloads;
        let store = self.store.clone();
        let back = self.back.clone();
        let resolved = self.resolved.clone();
        tokio::spawn(async move {
            match trunks::load(&store, &resolved).await {
                Ok((list, dids)) => {
                    let _ = back.send(Back::Trunks(generation, list, dids));
                }
                Err(e) => warn!(error = %e, "cannot read the trunks; they stay as they were"),
            }
        });
    }

    fn timers(&mut self) {
        let t = now();
        let sw = &mut self.switch;
        if let Some(fault) = contain::contained_sync(|| sw.handle_timeout(t)) {
            // The calls whose timers were due are dropped, so that the same fault cannot fire again;
            // if it was elsewhere, timers wait a second before they are tried again.
            let due = self.switch.due_children(t);
            error!(fault = %fault, calls = due.len(), "a timer's handling faulted; the calls it was due for were dropped");
            for id in due {
                self.switch.forget(now(), id);
            }
            self.timers_paused_until = Some(t + Duration::from_secs(1));
        }
    }

    /// Handling a new request faulted: answer it 500; everything else goes on.
    fn request_faulted(&mut self, tx: TxId, req: &Request, fault: &str) {
        error!(call_id = %parley_core::text::Printable(req.call_id()), fault = %fault, "handling one SIP message faulted; it was answered 500 and the server goes on");
        if req.method != parley_core::sip::Method::Ack {
            let tag = format!("{:x}", rand::random::<u64>());
            self.adapter.respond(
                tx,
                &parley_core::sip::Response::to_request(
                    req,
                    parley_core::sip::StatusCode::SERVER_INTERNAL_ERROR,
                    Some(&tag),
                ),
            );
        }
    }

    /// Handling input for a call faulted: that call is forgotten, the rest goes on.
    fn child_faulted(&mut self, id: Option<CallId>, what: &str, fault: &str) {
        match id {
            Some(id) => {
                error!(id = id.0, what, fault = %fault, "a call faulted and was dropped; the server goes on");
                self.switch.forget(now(), id);
            }
            None => error!(what, fault = %fault, "handling an answer faulted; the server goes on"),
        }
    }

    /// Carry out every command the switch has. The status is published first when it changed, so
    /// that whoever sees a response (a REGISTER's 200) also sees its effect, and again after.
    fn carry_out(&mut self) {
        if self.switch.take_changed() {
            self.publish();
        }
        while let Some(cmd) = self.switch.poll_command() {
            self.command(cmd);
        }
        if self.switch.take_changed() {
            self.publish();
        }
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Respond { tx, response } => self.adapter.respond(tx, &response),
            Command::Send {
                request,
                target,
                route,
            } => {
                let tx = self.adapter.send_request(&request, target);
                if route != ClientRoute::Ignore {
                    self.routes.insert(tx, route);
                }
            }
            Command::Credentials {
                job,
                account,
                algorithm,
            } => {
                let store = self.store.clone();
                self.answer(async move {
                    let ha1 = store.ha1(&account, algorithm).await.map_err(|e| {
                        warn!(error = %e, "account lookup failed");
                    });
                    Back::Credentials(job, ha1)
                });
            }
            Command::Accounts { job, names } => {
                let store = self.store.clone();
                self.answer(async move {
                    let found = store.switch_accounts(&names).await.map_err(|e| {
                        warn!(error = %e, "account lookup failed");
                    });
                    Back::Accounts(job, found)
                });
            }
            Command::CountMessages { mailbox, why } => {
                let store = self.store.clone();
                self.answer(async move {
                    let counts = store.counts_or_zero(&mailbox).await;
                    Back::Counts(mailbox, why, counts)
                });
            }
            Command::OpenRelay(id) => {
                let relay = self
                    .ports
                    .allocate()
                    .and_then(|a| Ok((a, self.ports.allocate()?)))
                    .and_then(|(a, b)| Relay::start(&self.engine, a, b));
                let ports = match relay {
                    Ok(r) => {
                        let p = (r.a_port, r.b_port);
                        self.relays.insert(id, r);
                        Ok(p)
                    }
                    Err(e) => {
                        warn!(error = %e, "cannot allocate media ports");
                        Err(())
                    }
                };
                let sw = &mut self.switch;
                if let Some(fault) = contain::contained_sync(|| sw.handle_relay(now(), id, ports)) {
                    self.child_faulted(Some(id), "starting a call", &fault);
                }
            }
            Command::SteerRelay(id, update) => {
                if let Some(r) = self.relays.get(&id) {
                    r.update(update);
                }
            }
            Command::ScreenPin {
                call,
                mailbox,
                pin,
                screening,
            } => {
                let store = self.store.clone();
                self.answer(async move {
                    Back::ScreenPin(call, screening, store.check_pin(&mailbox, pin).await)
                });
            }
            Command::Screen(id, screening) => {
                let Some(r) = self.relays.get(&id) else {
                    return;
                };
                let Some(s) = screening else {
                    return r.screen(None);
                };
                let prompt = match self.prompts.lock() {
                    Ok(mut prompts) => s
                        .audio
                        .iter()
                        .filter_map(|a| match a {
                            parley_core::vm::Audio::Prompt(p) => Some(prompts.get(p)),
                            _ => None,
                        })
                        .collect(),
                    Err(_) => Vec::new(),
                };
                let back = self.back.clone();
                r.screen(Some(parley_rtp::relay::Screen {
                    remote: s.remote,
                    signalling: s.signalling,
                    pt: s.pt,
                    te: s.te,
                    prompt,
                    keys: Box::new(move |key| {
                        let _ = back.send(Back::ScreenKey(id, key));
                    }),
                }));
            }
            Command::CloseRelay(id) => {
                if let Some(r) = self.relays.remove(&id) {
                    info!(
                        call = id.0,
                        a_to_b = r.stats.a_to_b.load(Relaxed),
                        b_to_a = r.stats.b_to_a.load(Relaxed),
                        "media relay closed"
                    );
                }
            }
            Command::OpenMedia(id) => {
                let back = self.back.clone();
                let sink: parley_rtp::media::EventSink = Box::new(move |ev| {
                    let input = match ev {
                        MediaEvent::PlayDone(g) => VmInput::PlayDone(g),
                        MediaEvent::Digit(d) => VmInput::Digit(d),
                        MediaEvent::RecordDone(r) => VmInput::RecordDone(r),
                    };
                    let _ = back.send(Back::Vm(id, input));
                });
                let media = self
                    .ports
                    .allocate()
                    .and_then(|s| Media::start(s, sink, &self.engine));
                let port = match media {
                    Ok(m) => {
                        let port = m.port;
                        let stats = m.stats.clone();
                        let io = worker::start(
                            id,
                            m,
                            self.store.clone(),
                            self.prompts.clone(),
                            self.rooms.clone(),
                            self.back.clone(),
                            info_span!("voicemail-io", id = id.0),
                        );
                        self.vms.insert(id, VmHandle { io, stats });
                        Ok(port)
                    }
                    Err(e) => {
                        warn!(error = %e, "cannot start media for voicemail");
                        Err(())
                    }
                };
                let sw = &mut self.switch;
                if let Some(fault) =
                    contain::contained_sync(|| sw.handle_media_opened(now(), id, port))
                {
                    self.child_faulted(Some(id), "answering a voicemail call", &fault);
                }
            }
            Command::Voicemail(id, io) => {
                let finish = io == VmIo::Finish;
                if let Some(h) = self.vms.get(&id) {
                    let _ = h.io.send(io);
                }
                if finish {
                    self.vms.remove(&id);
                }
            }
            Command::RecordCall(summary) => self.record(summary),
            Command::Attended(a) => {
                let unix = |t: Instant| {
                    let ago = now().saturating_duration_since(t).as_secs();
                    unix_now().saturating_sub(ago) as i64
                };
                let (joined, left) = (unix(a.joined), unix(a.left));
                let store = self.store.clone();
                tokio::spawn(async move {
                    if let Err(e) = store
                        .record_attendance(&a.conference, a.session, &a.caller, joined, left)
                        .await
                    {
                        warn!(error = %e, "a conference's attendance could not be written");
                    }
                });
            }
            Command::SetPresence {
                ext,
                presence,
                source,
            } => {
                let store = self.store.clone();
                tokio::spawn(async move {
                    let at = unix_now() as i64;
                    match store.set_presence(&ext, presence).await {
                        Ok(_) => {
                            let source = source.to_string();
                            let r = store
                                .audit(at, &ext, &source, "presence.set", &ext, presence.as_str())
                                .await;
                            if let Err(e) = r {
                                warn!(error = %e, "presence change not audited");
                            }
                        }
                        Err(e) => warn!(error = %e, %ext, "presence not stored"),
                    }
                });
            }
            Command::OutsideLimit(refusal) => {
                let store = self.store.clone();
                tokio::spawn(async move {
                    match store.outside_limit_refused(&refusal, unix_now() as i64).await {
                        Ok(0) if refusal.alert => warn!(limit = refusal.limit, "outside-call limit tripped; no administrator has an email address nor a webhook for alert.outside_limit"),
                        Ok(_) => {}
                        Err(e) => warn!(error = %e, "outside-call refusal not audited"),
                    }
                });
            }
        }
    }

    /// Run IO in a task of its own; its answer comes back on the actor's channel.
    fn answer(&self, io: impl std::future::Future<Output = Back> + Send + 'static) {
        let back = self.back.clone();
        tokio::spawn(async move {
            let _ = back.send(io.await);
        });
    }

    /// Write a call record off the signalling task.
    fn record(&self, s: CallSummary) {
        let ago = now().saturating_duration_since(s.started).as_secs();
        let started = unix_now().saturating_sub(ago) as i64;
        let store = self.store.clone();
        tokio::spawn(async move { store.record_call(s, started).await });
    }

    /// Replace the shared status with the switch's view and the relays' and media ends' counters.
    fn publish(&self) {
        let mut st = self.switch.view(now());
        for c in &mut st.calls {
            if let Some(r) = self.relays.get(&CallId(c.id)) {
                c.packets_a_to_b = r.stats.a_to_b.load(Relaxed);
                c.packets_b_to_a = r.stats.b_to_a.load(Relaxed);
                c.packets_from_strangers = r.stats.strangers.load(Relaxed);
            }
        }
        for p in st
            .conferences
            .iter_mut()
            .flat_map(|c| c.participants.iter_mut())
        {
            if let Some(h) = self.vms.get(&CallId(p.call)) {
                p.talking = h.stats.talking.load(Relaxed);
            }
        }
        for v in &mut st.voicemail {
            if let Some(h) = self.vms.get(&CallId(v.id)) {
                v.packets_received = h.stats.received.load(Relaxed);
                v.packets_lost = h.stats.lost.load(Relaxed);
                v.packets_from_strangers = h.stats.strangers.load(Relaxed);
            }
        }
        if let Ok(mut s) = self.status.write() {
            *s = st;
        }
    }
}

fn route_call(route: &ClientRoute) -> Option<CallId> {
    match route {
        ClientRoute::Call { call, .. } | ClientRoute::Transfer { call } => Some(*call),
        _ => None,
    }
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
