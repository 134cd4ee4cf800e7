//! The switch simulated: phones made of SIP text, a directory and a store answering lookups at once,
//! media that plays and records when told, and a fake clock. Whole calls, twenty minutes of them, run
//! in milliseconds and the same way every time.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::call::build::LocalAddr;
use crate::guard::GuardConfig;
use crate::registrar::RegistrarConfig;
use crate::sip::digest::{ha1, Algorithm};
use crate::sip::{Message, Method};
use crate::target::Transport;
use crate::vm::{Audio, GreetingKind, Greetings, RecordEnd};

const REALM: &str = "parley";
const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";

pub(super) fn config() -> SwitchConfig {
    SwitchConfig {
        local: LocalAddr {
            host: "192.0.2.1".into(),
            port: 5060,
        },
        media_ip: "192.0.2.1".parse().unwrap(),
        no_answer: Duration::from_secs(20),
        registrar: RegistrarConfig::default(),
        realm: REALM.into(),
        digest_key: [7; 32],
        nonce_ttl: Duration::from_secs(300),
        algorithms: vec![Algorithm::Md5],
        dangerous_digest_rfc2069: false,
        guard: GuardConfig {
            max_failures: 3,
            window: Duration::from_secs(600),
            lockout: Duration::from_secs(300),
        },
        call_waiting: true,
        vm: VmSettings {
            pbx_peers: vec!["127.0.0.9".parse().unwrap()],
            operator: Some("100".into()),
            ..VmSettings::default()
        },
        limits: Limits::default(),
        trunk_retry: TrunkRetry::default(),
        outside: OutsideSettings {
            main_number: Some("+15855550100".into()),
            ..OutsideSettings::default()
        },
        presence_code: "*80".into(),
        conference: Default::default(),
        seed: 42,
    }
}

/// A phone: an account, an address, and the requests it makes.
#[derive(Debug, Clone)]
struct Phone {
    user: String,
    password: String,
    addr: SocketAddr,
    n: u32,
}

impl Phone {
    fn new(user: &str, last_octet: u8) -> Phone {
        Phone {
            user: user.into(),
            password: format!("secret{user}"),
            addr: SocketAddr::from(([127, 0, 0, last_octet], 5070)),
            n: 0,
        }
    }

    fn target(&self) -> Target {
        Target {
            transport: Transport::Udp,
            addr: self.addr,
        }
    }

    /// A request out of a dialog (`call_id`, `cseq` chosen by the test).
    #[allow(clippy::too_many_arguments)]
    fn request(
        &mut self,
        method: &str,
        uri: &str,
        to: &str,
        call_id: &str,
        cseq: u32,
        extra: &str,
        body: &str,
    ) -> Request {
        self.n += 1;
        let text = format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bK{user}x{n}\r\nFrom: <sip:{user}@{REALM}>;tag=f{user}\r\nTo: <sip:{to}@{REALM}>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContact: <sip:{user}@{addr}>\r\nMax-Forwards: 70\r\n{extra}Content-Length: {len}\r\n\r\n{body}",
            addr = self.addr,
            user = self.user,
            n = self.n,
            len = body.len()
        );
        parse_request(&text)
    }

    /// `req` again with digest credentials answering `challenge` (`header`: which one to fill).
    fn authorize(&mut self, req: &Request, challenge: &Response, password: &str) -> Request {
        let (from, to) = if challenge.status == 407 {
            ("Proxy-Authenticate", "Proxy-Authorization")
        } else {
            ("WWW-Authenticate", "Authorization")
        };
        let ch = challenge.headers.get(from).expect("a challenge");
        let nonce = ch
            .split("nonce=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap();
        let uri = req.uri.to_string();
        let h1 = ha1(Algorithm::Md5, &self.user, REALM, password);
        let h2 = Algorithm::Md5.hash_hex(format!("{}:{uri}", req.method.as_str()).as_bytes());
        let nc = "00000001";
        let response =
            Algorithm::Md5.hash_hex(format!("{h1}:{nonce}:{nc}:c0ffee:auth:{h2}").as_bytes());
        let mut r = req.clone();
        self.n += 1;
        r.headers.set(
            "Via",
            &format!(
                "SIP/2.0/UDP {};branch=z9hG4bK{}x{}",
                self.addr, self.user, self.n
            ),
        );
        let cseq = req.cseq() + 1;
        r.headers
            .set("CSeq", &format!("{cseq} {}", req.method.as_str()));
        r.headers.push(
            to,
            &format!(
                "Digest username=\"{}\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", algorithm=MD5, qop=auth, nc={nc}, cnonce=\"c0ffee\"",
                self.user
            ),
        );
        r
    }
}

fn parse_request(text: &str) -> Request {
    match Message::parse(text.as_bytes()).expect("test SIP parses") {
        Message::Request(r) => r,
        Message::Response(_) => panic!("not a request"),
    }
}

/// A response from a phone to a request the switch sent.
fn answer(req: &Request, status: u16, tag: &str, body: &str) -> Response {
    let mut r = Response::to_request(req, StatusCode::new(status).unwrap(), Some(tag));
    if !body.is_empty() {
        r.headers.push("Contact", "<sip:101@127.0.0.2:5070>");
        r.headers.push("Content-Type", "application/sdp");
        r.body = body.as_bytes().to_vec();
    }
    r
}

/// A request the switch sent, with the route the shell would hand back.
#[derive(Debug, Clone)]
struct Sent {
    request: Request,
    target: Target,
    route: ClientRoute,
}

struct Sim {
    now: Instant,
    sw: Switch,
    accounts: BTreeMap<String, Account>,
    passwords: BTreeMap<String, String>,
    pins: BTreeMap<String, String>,
    counts: BTreeMap<String, Counts>,
    next_tx: u64,
    responses: Vec<(TxId, Response)>,
    sent: Vec<Sent>,
    records: Vec<CallSummary>,
    /// Outside calls refused by a limit, as the shell would audit and alert them.
    refusals: Vec<LimitRefusal>,
    /// Relays steered, in order.
    steered: Vec<(CallId, crate::call::MediaUpdate)>,
    /// Follow-Me screenings started (`Some`) and stopped (`None`), in order.
    screens: Vec<(CallId, Option<crate::call::Screening>)>,
    io: Vec<(CallId, VmIo)>,
    relays: BTreeMap<CallId, bool>,
    /// Lookups are held (not answered) while set: the test answers them with `release`.
    hold: bool,
    held: Vec<Command>,
    fail_relays: bool,
    /// Recordings in progress, as the media would report them when cut short.
    recording: BTreeMap<CallId, Instant>,
    /// Relays are not opened while set: the test opens them with `open_held_relays`.
    hold_media: bool,
    held_relays: Vec<CallId>,
    /// PIN checks are not answered while set.
    hold_pin: bool,
    /// Mailboxes hold one old message (id 7).
    old_message: bool,
    /// The directory cannot be read (the database away).
    store_down: bool,
    /// The conferences the store holds.
    conferences: BTreeMap<String, crate::conference::Conference>,
    /// The wall clock, seconds since the epoch (moved by `advance` with the monotonic one).
    unix: i64,
    /// Conference attendance written.
    attended: Vec<super::Attendance>,
}

fn account(name: &str) -> Account {
    Account {
        name: name.into(),
        always_prompt: true,
        mark_read: false,
        greetings: Greetings::default(),
        dial_class: crate::trunk::dialplan::DialClass::National,
        outside_number: None,
        routing: Default::default(),
        follow_me_pin: false,
    }
}

impl Sim {
    fn new() -> Sim {
        Sim::with(config())
    }

    fn with(config: SwitchConfig) -> Sim {
        let now = crate::test_epoch();
        let mut sim = Sim {
            now,
            sw: Switch::new(now, config),
            accounts: BTreeMap::new(),
            passwords: BTreeMap::new(),
            pins: BTreeMap::new(),
            counts: BTreeMap::new(),
            next_tx: 1,
            responses: Vec::new(),
            sent: Vec::new(),
            records: Vec::new(),
            refusals: Vec::new(),
            steered: Vec::new(),
            screens: Vec::new(),
            io: Vec::new(),
            relays: BTreeMap::new(),
            hold: false,
            held: Vec::new(),
            fail_relays: false,
            recording: BTreeMap::new(),
            hold_media: false,
            held_relays: Vec::new(),
            hold_pin: false,
            old_message: false,
            store_down: false,
            conferences: BTreeMap::new(),
            unix: 1_800_000_000,
            attended: Vec::new(),
        };
        for (ext, name) in [("100", "Alice"), ("101", "Bob"), ("102", "Carol")] {
            sim.accounts.insert(ext.into(), account(name));
            sim.passwords.insert(ext.into(), format!("secret{ext}"));
        }
        sim
    }

    fn tx(&mut self) -> TxId {
        self.next_tx += 1;
        TxId(self.next_tx)
    }

    /// Carry out every command, answering lookups and IO at once (unless held).
    fn run(&mut self) {
        while let Some(cmd) = self.sw.poll_command() {
            self.carry_out(cmd);
        }
    }

    fn carry_out(&mut self, cmd: Command) {
        let now = self.now;
        match cmd {
            Command::Respond { tx, response } => self.responses.push((tx, response)),
            Command::Send {
                request,
                target,
                route,
            } => self.sent.push(Sent {
                request,
                target,
                route,
            }),
            c @ (Command::Credentials { .. } | Command::Accounts { .. }) if self.hold => {
                self.held.push(c)
            }
            Command::Credentials {
                job,
                account,
                algorithm,
            } => {
                let h = self
                    .passwords
                    .get(&account)
                    .map(|p| ha1(algorithm, &account, REALM, p));
                let h = if self.store_down { Err(()) } else { Ok(h) };
                self.sw.handle_credentials(now, job, h);
            }
            Command::Accounts { job, names } => {
                let found = names
                    .iter()
                    .map(|n| self.accounts.get(n).cloned())
                    .collect();
                let found = if self.store_down { Err(()) } else { Ok(found) };
                self.sw.handle_accounts(now, job, found);
            }
            Command::CountMessages { mailbox, why } => {
                let c = self.counts.get(&mailbox).copied().unwrap_or_default();
                self.sw.handle_counts(now, &mailbox, why, c);
            }
            Command::OpenRelay(id) if self.hold_media => self.held_relays.push(id),
            Command::OpenRelay(id) => {
                if self.fail_relays {
                    self.sw.handle_relay(now, id, Err(()));
                } else {
                    self.relays.insert(id, true);
                    self.sw.handle_relay(now, id, Ok((40000, 40002)));
                }
            }
            Command::SteerRelay(id, u) => self.steered.push((id, u)),
            Command::Screen(id, s) => self.screens.push((id, s)),
            Command::ScreenPin { .. } if self.hold_pin => self.held.push(cmd),
            Command::ScreenPin {
                call,
                mailbox,
                pin,
                screening,
            } => {
                let check = match self.pins.get(&mailbox) {
                    Some(p) if p == pin.expose() => PinCheck::Matches,
                    Some(_) => PinCheck::Differs,
                    None => PinCheck::NotSet,
                };
                self.sw.handle_screen_pin(now, call, screening, check);
            }
            Command::CloseRelay(id) => {
                self.relays.insert(id, false);
            }
            Command::OpenMedia(id) => self.sw.handle_media_opened(now, id, Ok(41000)),
            Command::Voicemail(id, io) => self.voicemail_io(id, io),
            Command::RecordCall(r) => self.records.push(r),
            Command::Attended(a) => self.attended.push(a),
            Command::OutsideLimit(r) => self.refusals.push(r),
            // As the store would: the presence is the account's for the next call.
            Command::SetPresence { ext, presence, .. } => {
                if let Some(a) = self.accounts.get_mut(&ext) {
                    a.routing.presence = presence;
                }
            }
        }
    }

    fn voicemail_io(&mut self, id: CallId, io: VmIo) {
        let now = self.now;
        self.io.push((id, io.clone()));
        let input = match io {
            VmIo::MailboxExists(n) => Some(VmInput::MailboxExists(
                n.clone(),
                self.accounts.contains_key(&n),
            )),
            VmIo::VerifyPin { mailbox, pin } => {
                Some(VmInput::PinChecked(match self.pins.get(&mailbox) {
                    Some(p) if p == pin.expose() => PinCheck::Matches,
                    Some(_) => PinCheck::Differs,
                    None => PinCheck::NotSet,
                }))
            }
            VmIo::LoadMailbox(m) => Some(VmInput::Mailbox(self.accounts.get(&m).map(|a| {
                Box::new(MailboxView {
                    number: m.clone(),
                    greetings: a.greetings,
                    messages: if self.old_message {
                        vec![crate::vm::MessageInfo {
                            id: 7,
                            folder: Folder::Old,
                            received: crate::vm::LocalTime {
                                weekday: 1,
                                month: 12,
                                day: 1,
                                hour: 9,
                                minute: 30,
                            },
                            caller: Some("102".into()),
                            caller_is_extension: true,
                        }]
                    } else {
                        Vec::new()
                    },
                    pin_is_default: false,
                })
            }))),
            VmIo::KeepMessage { folder, .. } => {
                let mailbox = self.deposit_mailbox(id);
                let c = self.counts.entry(mailbox).or_default();
                if folder == Folder::New {
                    c.new += 1;
                } else {
                    c.old += 1;
                }
                None
            }
            VmIo::CountMessages(m) => {
                let c = self.counts.get(&m).copied().unwrap_or_default();
                self.sw.handle_counts(now, &m, CountFor::Changed, c);
                None
            }
            VmIo::Record { .. } => {
                self.recording.insert(id, now);
                None
            }
            VmIo::LoadConference(cid) => Some(VmInput::Conference(
                cid.clone(),
                self.conferences.get(cid.as_str()).cloned().map(Box::new),
                self.unix,
            )),
            VmIo::Close => Some(VmInput::Closed(self.recording.remove(&id).map(|since| {
                RecordResult {
                    duration_ms: now.saturating_duration_since(since).as_millis() as u64,
                    end: RecordEnd::Hangup,
                }
            }))),
            _ => None,
        };
        if let Some(input) = input {
            self.sw.handle_voicemail(now, id, input);
        }
    }

    fn deposit_mailbox(&self, id: CallId) -> String {
        self.io
            .iter()
            .rev()
            .find_map(|(c, io)| match io {
                VmIo::Record {
                    purpose: RecordingFor::Message { mailbox, .. },
                    ..
                } if *c == id => Some(mailbox.clone()),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// Open the relays that were held.
    fn open_held_relays(&mut self) {
        self.hold_media = false;
        for id in std::mem::take(&mut self.held_relays) {
            self.relays.insert(id, true);
            self.sw.handle_relay(self.now, id, Ok((40000, 40002)));
        }
        self.run();
    }

    /// Answer the held lookups now.
    fn release(&mut self) {
        self.hold = false;
        for c in std::mem::take(&mut self.held) {
            self.carry_out(c);
        }
        self.run();
    }

    /// A new request from a phone; the switch's final answer on its transaction.
    fn send(&mut self, req: Request, from: Target) -> (TxId, Option<Response>) {
        let tx = self.tx();
        self.sw.handle_request(self.now, tx, req, from);
        self.run();
        (tx, self.final_on(tx))
    }

    fn final_on(&self, tx: TxId) -> Option<Response> {
        self.responses
            .iter()
            .rev()
            .find(|(t, r)| *t == tx && r.status >= 200)
            .map(|(_, r)| r.clone())
    }

    fn statuses_on(&self, tx: TxId) -> Vec<u16> {
        self.responses
            .iter()
            .filter(|(t, _)| *t == tx)
            .map(|(_, r)| r.status.as_u16())
            .collect()
    }

    /// Send `req` and answer its challenge with `password`: the final response.
    fn send_authorized(
        &mut self,
        phone: &mut Phone,
        req: Request,
        password: &str,
    ) -> (TxId, Option<Response>) {
        let (_, first) = self.send(req.clone(), phone.target());
        let first = first.expect("an answer");
        assert!(
            matches!(
                first.status,
                StatusCode::UNAUTHORIZED | StatusCode::PROXY_AUTHENTICATION_REQUIRED
            ),
            "challenged, got {}",
            first.status
        );
        let again = phone.authorize(&req, &first, password);
        self.send(again, phone.target())
    }

    fn register(&mut self, phone: &mut Phone, expires: u32) -> u16 {
        let password = phone.password.clone();
        let req = phone.request(
            "REGISTER",
            &format!("sip:{REALM}"),
            &phone.user.clone(),
            &format!("reg-{}", phone.user),
            1 + phone.n * 2,
            &format!("Expires: {expires}\r\n"),
            "",
        );
        self.send_authorized(phone, req, &password)
            .1
            .map_or(0, |r| r.status.as_u16())
    }

    /// `caller` dials `number`: the authorized INVITE's transaction.
    fn dial(&mut self, caller: &mut Phone, number: &str) -> (TxId, String) {
        let call_id = format!("call-{}-{}", caller.user, caller.n);
        let req = caller.request(
            "INVITE",
            &format!("sip:{number}@{REALM}"),
            number,
            &call_id,
            1,
            "Content-Type: application/sdp\r\n",
            OFFER,
        );
        let password = caller.password.clone();
        let (tx, _) = self.send_authorized(caller, req, &password);
        (tx, call_id)
    }

    /// The requests the switch sent to `phone` with `method`.
    fn sent_to(&self, phone: &Phone, method: Method) -> Vec<Sent> {
        self.sent
            .iter()
            .filter(|s| s.target.addr == phone.addr && s.request.method == method)
            .cloned()
            .collect()
    }

    /// `phone` answers the last `method` the switch sent it.
    fn reply(&mut self, phone: &Phone, method: Method, status: u16, body: &str) {
        let s = self
            .sent_to(phone, method)
            .pop()
            .expect("a request to answer");
        let r = answer(&s.request, status, &format!("t{}", phone.user), body);
        self.sw.handle_response(self.now, &s.route, r);
        self.run();
    }

    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some((t, _)) = self.sw.poll_timeout() {
            if t > end {
                break;
            }
            self.now = t.max(self.now);
            self.sw.handle_timeout(self.now);
            self.run();
        }
        self.now = end;
        self.unix += d.as_secs() as i64;
    }

    /// What each voicemail call in progress takes (`voicemail 101`, `mailbox menu`).
    fn deposits(&self) -> Vec<String> {
        self.sw
            .view(self.now)
            .voicemail
            .iter()
            .map(|v| v.what.clone())
            .collect()
    }

    fn voicemail_calls(&self) -> Vec<CallId> {
        let mut ids: Vec<CallId> = self.io.iter().map(|(c, _)| *c).collect();
        ids.dedup();
        ids
    }

    fn last_play(&self, id: CallId) -> Option<(u64, Vec<Audio>)> {
        self.io.iter().rev().find_map(|(c, io)| match io {
            VmIo::Play { generation, audio } if *c == id => Some((*generation, audio.clone())),
            _ => None,
        })
    }

    /// The playback in progress of `id` ends.
    fn play_done(&mut self, id: CallId) {
        let (g, _) = self.last_play(id).expect("something played");
        self.sw.handle_voicemail(self.now, id, VmInput::PlayDone(g));
        self.run();
    }

    fn keys(&mut self, id: CallId, keys: &str) {
        for k in keys.chars() {
            self.sw.handle_voicemail(self.now, id, VmInput::Digit(k));
            self.run();
        }
    }

    fn has_io(&self, id: CallId, f: impl Fn(&VmIo) -> bool) -> bool {
        self.io.iter().any(|(c, io)| *c == id && f(io))
    }

    /// A BYE from `phone` in the dialog the switch answered on `tx`.
    fn hang_up(&mut self, phone: &mut Phone, tx: TxId, call_id: &str) -> Option<Response> {
        let ok = self.final_on(tx).expect("answered");
        let to = ok.headers.get("To").unwrap().to_string();
        let mut bye = phone.request("BYE", &format!("sip:x@{REALM}"), "x", call_id, 10, "", "");
        bye.headers.set("To", &to);
        self.send(bye, phone.target()).1
    }
}

fn prompt(id: &str) -> Audio {
    Audio::Prompt(id.into())
}

// ---- registration and authentication ----

#[test]
fn a_register_is_challenged_then_accepted_and_shows_in_the_status() {
    let mut sim = Sim::new();
    let mut alice = Phone::new("100", 2);
    assert_eq!(sim.register(&mut alice, 600), 200);
    let view = sim.sw.view(sim.now);
    assert_eq!(view.registrations.len(), 1);
    assert_eq!(view.registrations[0].extension, "100");
}

#[test]
fn with_the_database_away_phones_get_503_to_retry_and_no_lockout_accrues() {
    let mut sim = Sim::new();
    let mut alice = Phone::new("100", 2);
    assert_eq!(sim.register(&mut alice, 600), 200);
    sim.store_down = true;
    // Refreshes and calls while the directory cannot be read: 503 with Retry-After, many times.
    for _ in 0..20 {
        let req = alice.request("REGISTER", "sip:parley", "100", "reg-100", 3, "", "");
        let (_, r) = sim.send_authorized(&mut alice, req, "secret100");
        let r = r.unwrap();
        assert_eq!(r.status, 503);
        assert_eq!(r.headers.get("Retry-After"), Some("30"));
    }
    let (tx, _) = sim.dial(&mut alice, "101");
    assert_eq!(sim.final_on(tx).map(|r| r.status.as_u16()), Some(503));
    // Back: the same phone registers at once (nothing was counted against it).
    sim.store_down = false;
    assert_eq!(sim.register(&mut alice, 600), 200);
}

#[test]
fn a_wrong_password_is_refused_and_repeated_failures_lock_the_address_out() {
    let mut sim = Sim::new();
    let mut alice = Phone::new("100", 2);
    assert_eq!(sim.register(&mut alice, 600), 200);
    let mut mallory = Phone::new("100", 66);
    for _ in 0..3 {
        let req = mallory.request("REGISTER", "sip:parley", "100", "guess", 1, "", "");
        let (_, r) = sim.send_authorized(&mut mallory, req, "guess");
        assert_eq!(r.unwrap().status, 403);
    }
    // Locked now: even the right password is refused without a challenge.
    let req = mallory.request("REGISTER", "sip:parley", "100", "guess", 9, "", "");
    let (_, r) = sim.send(req, mallory.target());
    assert_eq!(r.unwrap().status, 403);
    assert!(!sim.sw.view(sim.now).lockouts.is_empty());
    // The account's own phone, registered from its own address, is not locked out by the stranger;
    // a phone of the account from a new address is.
    assert_eq!(sim.register(&mut alice, 600), 200);
    let mut elsewhere = Phone::new("100", 7);
    assert_eq!(sim.register(&mut elsewhere, 600), 403);
    // Five minutes later the address may try again.
    sim.advance(Duration::from_secs(301));
    let mut again = mallory.clone();
    assert_eq!(sim.register(&mut again, 600), 200);
}

#[test]
fn a_replayed_register_is_challenged_again() {
    let mut sim = Sim::new();
    let mut alice = Phone::new("100", 2);
    let req = alice.request(
        "REGISTER",
        "sip:parley",
        "100",
        "r1",
        1,
        "Expires: 600\r\n",
        "",
    );
    let (_, first) = sim.send(req.clone(), alice.target());
    let authed = alice.authorize(&req, &first.unwrap(), "secret100");
    assert_eq!(
        sim.send(authed.clone(), alice.target()).1.unwrap().status,
        200
    );
    let replay = sim.send(authed, alice.target()).1.unwrap();
    assert_eq!(replay.status, 401);
}

#[test]
fn an_unknown_account_is_refused_and_not_counted_by_name() {
    let mut sim = Sim::new();
    let mut ghost = Phone::new("555", 3);
    assert_eq!(sim.register(&mut ghost, 600), 403);
    assert!(sim.sw.guard.locked_accounts(sim.now).is_empty());
}

#[test]
fn a_registration_lapses_after_its_expiry_and_a_refreshed_one_lives_twenty_minutes() {
    let mut sim = Sim::new();
    let mut alice = Phone::new("100", 2);
    let mut bob = Phone::new("101", 3);
    assert_eq!(sim.register(&mut alice, 120), 200);
    assert_eq!(sim.register(&mut bob, 120), 200);
    for _ in 0..20 {
        sim.advance(Duration::from_secs(60));
        assert_eq!(sim.register(&mut bob, 120), 200);
    }
    let view = sim.sw.view(sim.now);
    assert_eq!(view.registrations.len(), 1, "alice lapsed, bob refreshed");
    assert_eq!(view.registrations[0].extension, "101");
}

#[test]
fn options_is_answered_and_known_methods_not_taken_get_405_unknown_ones_501() {
    let mut sim = Sim::new();
    let mut p = Phone::new("100", 2);
    let req = p.request("OPTIONS", "sip:parley", "100", "o1", 1, "", "");
    assert_eq!(sim.send(req, p.target()).1.unwrap().status, 200);
    let req = p.request("MESSAGE", "sip:101@parley", "101", "m1", 1, "", "");
    let (_, r) = sim.send_authorized(&mut p, req, "secret100");
    assert_eq!(r.unwrap().status, 405);
    // A method nobody defined (it reaches the switch off a stream): 501 with Allow, no challenge.
    let req = p.request("NEWMETHOD", "sip:parley", "100", "n1", 1, "", "");
    let r = sim.send(req, p.target()).1.unwrap();
    assert_eq!(r.status, 501);
    assert!(r.headers.get("Allow").is_some_and(|a| a.contains("INVITE")));
}

// ---- calls ----

fn two_phones(sim: &mut Sim) -> (Phone, Phone) {
    let mut alice = Phone::new("100", 2);
    let mut bob = Phone::new("101", 3);
    assert_eq!(sim.register(&mut alice, 3600), 200);
    assert_eq!(sim.register(&mut bob, 3600), 200);
    (alice, bob)
}

#[test]
fn an_invite_without_credentials_is_challenged_407() {
    let mut sim = Sim::new();
    let (mut alice, _) = two_phones(&mut sim);
    let req = alice.request("INVITE", "sip:101@parley", "101", "c1", 1, "", OFFER);
    assert_eq!(sim.send(req, alice.target()).1.unwrap().status, 407);
}

#[test]
fn a_call_answered_and_hung_up_by_the_caller_is_recorded_answered() {
    let mut sim = Sim::new();
    let (mut alice, bob) = two_phones(&mut sim);
    let (tx, call_id) = sim.dial(&mut alice, "101");
    assert_eq!(sim.sent_to(&bob, Method::Invite).len(), 1);
    sim.reply(&bob, Method::Invite, 180, "");
    assert!(sim.statuses_on(tx).contains(&180));
    sim.reply(&bob, Method::Invite, 200, OFFER);
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    assert_eq!(sim.sw.view(sim.now).calls[0].state, "answered");
    sim.advance(Duration::from_secs(65));
    assert_eq!(sim.hang_up(&mut alice, tx, &call_id).unwrap().status, 200);
    assert_eq!(sim.sent_to(&bob, Method::Bye).len(), 1);
    sim.reply(&bob, Method::Bye, 200, "");
    assert!(sim.sw.view(sim.now).calls.is_empty());
    let r = sim.records.last().unwrap();
    assert_eq!((r.outcome, r.talk.as_secs()), (Outcome::Answered, 65));
    assert!(
        sim.relays.values().all(|open| !open),
        "the relay was closed"
    );
}

#[test]
fn a_call_hung_up_by_the_callee_sends_bye_to_the_caller() {
    let mut sim = Sim::new();
    let (mut alice, mut bob) = two_phones(&mut sim);
    let (tx, _) = sim.dial(&mut alice, "101");
    sim.reply(&bob, Method::Invite, 200, OFFER);
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    let inv = sim.sent_to(&bob, Method::Invite).pop().unwrap().request;
    let mut bye = bob.request("BYE", "sip:100@192.0.2.1", "100", inv.call_id(), 5, "", "");
    bye.headers.set(
        "From",
        &format!("{};tag=t101", inv.headers.get("To").unwrap()),
    );
    bye.headers.set("To", inv.headers.get("From").unwrap());
    assert_eq!(sim.send(bye, bob.target()).1.unwrap().status, 200);
    assert_eq!(sim.sent_to(&alice, Method::Bye).len(), 1);
    sim.reply(&alice, Method::Bye, 200, "");
    assert_eq!(sim.records.last().unwrap().outcome, Outcome::Answered);
}

#[test]
fn a_busy_phone_sends_the_caller_to_the_busy_greeting() {
    let mut sim = Sim::new();
    sim.accounts.get_mut("101").unwrap().greetings.busy = true;
    let (mut alice, bob) = two_phones(&mut sim);
    let (tx, _) = sim.dial(&mut alice, "101");
    sim.reply(&bob, Method::Invite, 486, "");
    assert_eq!(sim.final_on(tx).unwrap().status, 200, "voicemail answered");
    let vm = sim.voicemail_calls()[0];
    let (_, audio) = sim.last_play(vm).unwrap();
    assert_eq!(
        audio[0],
        Audio::Greeting {
            mailbox: "101".into(),
            kind: GreetingKind::Busy
        }
    );
}

#[test]
fn a_busy_phone_without_voicemail_gives_the_caller_486() {
    let mut c = config();
    c.vm.enabled = false;
    let mut sim = Sim::with(c);
    let (mut alice, bob) = two_phones(&mut sim);
    let (tx, _) = sim.dial(&mut alice, "101");
    sim.reply(&bob, Method::Invite, 486, "");
    assert_eq!(sim.final_on(tx).unwrap().status, 486);
    assert_eq!(sim.records.last().unwrap().outcome, Outcome::Busy);
}

#[test]
fn nobody_answering_sends_the_caller_to_voicemail_after_the_no_answer_time() {
    let mut sim = Sim::new();
    let (mut alice, bob) = two_phones(&mut sim);
    let (tx, _) = sim.dial(&mut alice, "101");
    sim.reply(&bob, Method::Invite, 180, "");
    sim.advance(Duration::from_secs(19));
    assert!(sim.final_on(tx).is_none(), "still ringing");
    sim.advance(Duration::from_secs(2));
    assert_eq!(
        sim.sent_to(&bob, Method::Cancel).len(),
        1,
        "the phone stops ringing"
    );
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    let vm = sim.voicemail_calls()[0];
    let (_, audio) = sim.last_play(vm).unwrap();
    assert!(audio.contains(&prompt("vm-isunavail")));
}

#[test]
fn an_unregistered_extension_goes_to_voicemail_at_once() {
    let mut sim = Sim::new();
    let mut alice = Phone::new("100", 2);
    sim.register(&mut alice, 600);
    let (tx, _) = sim.dial(&mut alice, "102");
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    let vm = sim.voicemail_calls()[0];
    assert!(sim
        .last_play(vm)
        .unwrap()
        .1
        .contains(&prompt("vm-isunavail")));
}

#[test]
fn an_unregistered_extension_without_voicemail_gives_480() {
    let mut c = config();
    c.vm.enabled = false;
    let mut sim = Sim::with(c);
    let mut alice = Phone::new("100", 2);
    sim.register(&mut alice, 600);
    let (tx, _) = sim.dial(&mut alice, "102");
    assert_eq!(sim.final_on(tx).unwrap().status, 480);
    assert_eq!(sim.records.last().unwrap().outcome, Outcome::NoAnswer);
}

#[test]
fn an_unknown_number_gives_404_and_a_failed_record() {
    let mut sim = Sim::new();
    let (mut alice, _) = two_phones(&mut sim);
    let (tx, _) = sim.dial(&mut alice, "999");
    assert_eq!(sim.final_on(tx).unwrap().status, 404);
    assert_eq!(sim.records.last().unwrap().outcome, Outcome::Failed);
}

#[test]
fn cancel_while_ringing_gives_487_cancels_the_phone_and_records_cancelled() {
    let mut sim = Sim::new();
    let (mut alice, bob) = two_phones(&mut sim);
    let (tx, call_id) = sim.dial(&mut alice, "101");
    sim.reply(&bob, Method::Invite, 180, "");
    let cancel = alice.request("CANCEL", "sip:101@parley", "101", &call_id, 2, "", "");
    sim.sw.handle_in_transaction(sim.now, tx, cancel);
    sim.run();
    assert_eq!(sim.final_on(tx).unwrap().status, 487);
    assert_eq!(sim.sent_to(&bob, Method::Cancel).len(), 1);
    sim.reply(&bob, Method::Invite, 487, "");
    assert_eq!(sim.records.last().unwrap().outcome, Outcome::Cancelled);
    assert!(sim.sw.view(sim.now).calls.is_empty());
}

#[test]
fn cancel_while_the_directory_is_still_answering_ends_the_call_before_it_rings() {
    let mut sim = Sim::new();
    let (mut alice, bob) = two_phones(&mut sim);
    sim.hold = true;
    let req = alice.request("INVITE", "sip:101@parley", "101", "slow", 1, "", OFFER);
    let (_, challenge) = sim.send(req.clone(), alice.target());
    sim.hold = true;
    let authed = alice.authorize(&req, &challenge.unwrap(), "secret100");
    let (tx, r) = sim.send(authed, alice.target());
    assert!(r.is_none(), "waiting for the account lookup");
    let cancel = alice.request("CANCEL", "sip:101@parley", "101", "slow", 2, "", "");
    sim.sw.handle_in_transaction(sim.now, tx, cancel);
    sim.run();
    assert_eq!(sim.final_on(tx).unwrap().status, 487);
    sim.release();
    assert!(
        sim.sent_to(&bob, Method::Invite).is_empty(),
        "the phone never rang"
    );
    assert_eq!(sim.statuses_on(tx), vec![487]);
}

#[test]
fn two_phones_of_one_extension_ring_and_the_loser_is_cancelled() {
    let mut sim = Sim::new();
    let (mut alice, bob) = two_phones(&mut sim);
    let mut bob2 = Phone::new("101", 4);
    assert_eq!(sim.register(&mut bob2, 3600), 200);
    let (tx, _) = sim.dial(&mut alice, "101");
    assert_eq!(sim.sent_to(&bob, Method::Invite).len(), 1);
    assert_eq!(sim.sent_to(&bob2, Method::Invite).len(), 1);
    sim.reply(&bob2, Method::Invite, 180, "");
    sim.reply(&bob, Method::Invite, 180, "");
    sim.reply(&bob2, Method::Invite, 200, OFFER);
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    assert_eq!(sim.sent_to(&bob, Method::Cancel).len(), 1);
    assert!(sim.sent_to(&bob2, Method::Cancel).is_empty());
}

#[test]
fn without_call_waiting_a_callee_in_a_call_is_busy_for_the_next_caller() {
    let mut c = config();
    c.call_waiting = false;
    let mut sim = Sim::with(c);
    let (mut alice, bob) = two_phones(&mut sim);
    let mut carol = Phone::new("102", 5);
    sim.register(&mut carol, 3600);
    let (tx, _) = sim.dial(&mut alice, "101");
    sim.reply(&bob, Method::Invite, 200, OFFER);
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    let (tx2, _) = sim.dial(&mut carol, "101");
    assert_eq!(sim.sent_to(&bob, Method::Invite).len(), 1, "not rung again");
    assert_eq!(sim.final_on(tx2).unwrap().status, 200, "voicemail");
    let vm = sim.voicemail_calls()[0];
    assert!(sim
        .last_play(vm)
        .unwrap()
        .1
        .contains(&prompt("vm-isonphone")));
}

#[test]
fn no_media_ports_gives_503() {
    let mut sim = Sim::new();
    let (mut alice, _) = two_phones(&mut sim);
    sim.fail_relays = true;
    let (tx, _) = sim.dial(&mut alice, "101");
    assert_eq!(sim.final_on(tx).unwrap().status, 503);
}

#[test]
fn too_many_calls_from_one_account_are_refused() {
    let mut c = config();
    c.limits.calls_per_account = 2;
    let mut sim = Sim::with(c);
    let (mut alice, _) = two_phones(&mut sim);
    let (a, _) = sim.dial(&mut alice, "101");
    let (b, _) = sim.dial(&mut alice, "101");
    let (third, _) = sim.dial(&mut alice, "101");
    assert!(sim.final_on(a).is_none() && sim.final_on(b).is_none());
    let refused = sim.final_on(third).unwrap();
    assert_eq!(
        (refused.status.as_u16(), refused.reason.as_str()),
        (403, "Too Many Calls In Progress")
    );
}

#[test]
fn a_stranger_cannot_hang_up_someone_elses_call() {
    let mut sim = Sim::new();
    let (mut alice, bob) = two_phones(&mut sim);
    let (tx, call_id) = sim.dial(&mut alice, "101");
    sim.reply(&bob, Method::Invite, 200, OFFER);
    let mut mallory = Phone {
        user: "100".into(),
        ..Phone::new("100", 66)
    };
    assert_eq!(sim.hang_up(&mut mallory, tx, &call_id).unwrap().status, 481);
    assert_eq!(sim.sw.view(sim.now).calls.len(), 1);
}

#[test]
fn a_call_held_for_twenty_minutes_stays_up_and_ends_cleanly() {
    let mut sim = Sim::new();
    let (mut alice, mut bob) = two_phones(&mut sim);
    let (tx, call_id) = sim.dial(&mut alice, "101");
    sim.reply(&bob, Method::Invite, 200, OFFER);
    for _ in 0..20 {
        sim.advance(Duration::from_secs(60));
        assert_eq!(sim.register(&mut bob, 3600), 200);
    }
    assert_eq!(sim.sw.view(sim.now).calls.len(), 1);
    sim.hang_up(&mut alice, tx, &call_id);
    sim.reply(&bob, Method::Bye, 200, "");
    assert_eq!(sim.records.last().unwrap().talk.as_secs(), 1200);
}

// ---- voicemail ----

/// Alice calls 102 (unregistered) and leaves a message of `ms`.
fn leave_message(sim: &mut Sim, ms: u64) -> CallId {
    let mut alice = Phone::new("100", 2);
    sim.register(&mut alice, 3600);
    let (tx, call_id) = sim.dial(&mut alice, "102");
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    let vm = *sim.voicemail_calls().last().unwrap();
    sim.play_done(vm);
    assert!(sim.has_io(vm, |io| matches!(io, VmIo::Record { .. })));
    sim.advance(Duration::from_millis(ms));
    sim.recording.remove(&vm);
    sim.sw.handle_voicemail(
        sim.now,
        vm,
        VmInput::RecordDone(RecordResult {
            duration_ms: ms,
            end: RecordEnd::Silence,
        }),
    );
    sim.run();
    sim.hang_up(&mut alice, tx, &call_id);
    vm
}

#[test]
fn a_message_left_is_kept_in_new_and_the_lamp_of_the_mailbox_lights() {
    let mut sim = Sim::new();
    let mut carol = Phone::new("102", 5);
    let vm = {
        // Carol's phone registers after being away; the message is left meanwhile.
        let vm = leave_message(&mut sim, 5000);
        sim.register(&mut carol, 3600);
        vm
    };
    assert!(sim.has_io(vm, |io| matches!(
        io,
        VmIo::KeepMessage {
            folder: Folder::New,
            duration_ms: 5000
        }
    )));
    assert_eq!(sim.counts["102"].new, 1);
    // Registering, Carol's phone learns its lamp is on.
    let notify = sim
        .sent_to(&carol, Method::Notify)
        .pop()
        .expect("an unsolicited NOTIFY");
    assert!(String::from_utf8_lossy(&notify.request.body).contains("Messages-Waiting: yes"));
    let r = sim.records.last().unwrap();
    assert_eq!((r.outcome, r.callee.as_str()), (Outcome::Voicemail, "102"));
    assert!(sim.has_io(vm, |io| *io == VmIo::Finish));
}

#[test]
fn a_mailbox_that_marks_messages_read_keeps_them_in_old() {
    let mut sim = Sim::new();
    sim.accounts.get_mut("102").unwrap().mark_read = true;
    let vm = leave_message(&mut sim, 3000);
    assert!(sim.has_io(vm, |io| matches!(
        io,
        VmIo::KeepMessage {
            folder: Folder::Old,
            ..
        }
    )));
}

#[test]
fn a_too_short_message_is_discarded() {
    let mut sim = Sim::new();
    let vm = leave_message(&mut sim, 300);
    assert!(sim.has_io(vm, |io| *io == VmIo::DiscardTake));
    assert!(!sim.has_io(vm, |io| matches!(io, VmIo::KeepMessage { .. })));
}

#[test]
fn a_hangup_while_recording_keeps_what_was_recorded() {
    let mut sim = Sim::new();
    let mut alice = Phone::new("100", 2);
    sim.register(&mut alice, 3600);
    let (tx, call_id) = sim.dial(&mut alice, "102");
    let vm = sim.voicemail_calls()[0];
    sim.play_done(vm);
    sim.advance(Duration::from_secs(7));
    sim.hang_up(&mut alice, tx, &call_id);
    // The media closes with the take it cut short, and the message is kept.
    assert!(sim.has_io(vm, |io| *io == VmIo::Close));
    assert!(sim.has_io(vm, |io| matches!(
        io,
        VmIo::KeepMessage {
            duration_ms: 7000,
            ..
        }
    )));
    assert_eq!(sim.counts["102"].new, 1);
}

/// Alice dials `*97` from her own phone: the voicemail call.
fn own_mailbox(sim: &mut Sim) -> (Phone, TxId, String, CallId) {
    let mut alice = Phone::new("100", 2);
    sim.register(&mut alice, 3600);
    let (tx, call_id) = sim.dial(&mut alice, "*97");
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    let vm = *sim.voicemail_calls().last().unwrap();
    (alice, tx, call_id, vm)
}

#[test]
fn star_97_asks_for_the_pin_and_opens_the_mailbox_with_the_right_one() {
    let mut sim = Sim::new();
    sim.pins.insert("100".into(), "4321".into());
    let (_, _, _, vm) = own_mailbox(&mut sim);
    assert!(sim
        .last_play(vm)
        .unwrap()
        .1
        .contains(&prompt("vm-password")));
    sim.keys(vm, "4321#");
    assert!(sim.has_io(
        vm,
        |io| matches!(io, VmIo::VerifyPin { mailbox, .. } if mailbox == "100")
    ));
    assert!(sim.has_io(vm, |io| *io == VmIo::LoadMailbox("100".into())));
    assert!(sim.last_play(vm).unwrap().1.contains(&prompt("vm-youhave")));
}

#[test]
fn star_97_with_always_prompt_off_opens_without_a_pin() {
    let mut sim = Sim::new();
    sim.accounts.get_mut("100").unwrap().always_prompt = false;
    let (_, _, _, vm) = own_mailbox(&mut sim);
    assert!(!sim.has_io(vm, |io| matches!(io, VmIo::VerifyPin { .. })));
    assert!(sim.has_io(vm, |io| *io == VmIo::LoadMailbox("100".into())));
}

#[test]
fn the_default_pin_opens_a_mailbox_only_from_its_owners_phone() {
    let mut sim = Sim::new();
    let (_, _, _, vm) = own_mailbox(&mut sim);
    sim.keys(vm, "1234#");
    assert!(sim.has_io(vm, |io| *io == VmIo::LoadMailbox("100".into())));
    // Bob, through *98, cannot open Alice's never-set mailbox with the default PIN.
    let mut bob = Phone::new("101", 3);
    sim.register(&mut bob, 3600);
    let (tx, _) = sim.dial(&mut bob, "*98");
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    let vm = *sim.voicemail_calls().last().unwrap();
    sim.keys(vm, "100#");
    sim.keys(vm, "1234#");
    assert!(!sim.has_io(vm, |io| matches!(io, VmIo::LoadMailbox(_))));
    assert!(sim
        .last_play(vm)
        .unwrap()
        .1
        .contains(&prompt("vm-incorrect")));
}

#[test]
fn wrong_pins_lock_the_mailbox_across_calls() {
    let mut sim = Sim::new();
    sim.pins.insert("100".into(), "4321".into());
    // Three wrong PINs in one call, two in the next: the fifth locks the mailbox.
    let (mut alice, tx, call_id, vm) = own_mailbox(&mut sim);
    for _ in 0..3 {
        sim.keys(vm, "0000#");
        sim.play_done(vm);
    }
    sim.hang_up(&mut alice, tx, &call_id);
    let (_, _, _, vm) = own_mailbox(&mut sim);
    sim.keys(vm, "0000#");
    sim.play_done(vm);
    sim.keys(vm, "0000#");
    sim.play_done(vm);
    // Now even the right PIN is refused, without a check.
    let checks = sim
        .io
        .iter()
        .filter(|(_, io)| matches!(io, VmIo::VerifyPin { .. }))
        .count();
    sim.keys(vm, "4321#");
    let after = sim
        .io
        .iter()
        .filter(|(_, io)| matches!(io, VmIo::VerifyPin { .. }))
        .count();
    assert_eq!(checks, after, "no PIN check while locked");
    assert!(sim.last_play(vm).unwrap().1.contains(&prompt("vm-locked")));
    assert!(sim
        .sw
        .view(sim.now)
        .lockouts
        .iter()
        .any(|l| l.what == "mailbox 100"));
}

#[test]
fn the_operator_key_transfers_the_caller_with_refer_and_the_call_ends() {
    let mut sim = Sim::new();
    let mut alice = Phone::new("100", 2);
    sim.register(&mut alice, 3600);
    let (tx, _) = sim.dial(&mut alice, "102");
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    let vm = sim.voicemail_calls()[0];
    sim.keys(vm, "0");
    let refer = sim.sent_to(&alice, Method::Refer).pop().expect("a REFER");
    assert!(refer
        .request
        .headers
        .get("Refer-To")
        .unwrap()
        .contains("sip:100@"));
    sim.reply(&alice, Method::Refer, 202, "");
    assert_eq!(sim.sent_to(&alice, Method::Bye).len(), 1);
}

#[test]
fn a_trusted_pbx_diverts_to_the_pilot_without_digest_and_an_untrusted_one_is_challenged() {
    let mut sim = Sim::new();
    let mut pbx = Phone::new("5000", 9);
    let req = pbx.request(
        "INVITE",
        "sip:*86@parley",
        "*86",
        "pbx1",
        1,
        "Diversion: <sip:101@pbx>;reason=user-busy\r\nContent-Type: application/sdp\r\n",
        OFFER,
    );
    let (tx, r) = sim.send(req.clone(), pbx.target());
    assert_eq!(r.unwrap().status, 200);
    let vm = sim.voicemail_calls()[0];
    assert!(sim
        .last_play(vm)
        .unwrap()
        .1
        .contains(&prompt("vm-isonphone")));
    let _ = tx;
    let mut stranger = Phone::new("5000", 10);
    let req = stranger.request(
        "INVITE",
        "sip:*86@parley",
        "*86",
        "pbx2",
        1,
        "Diversion: <sip:101@pbx>\r\n",
        OFFER,
    );
    assert_eq!(sim.send(req, stranger.target()).1.unwrap().status, 407);
}

#[test]
fn a_diverted_call_for_an_unknown_mailbox_gets_404() {
    let mut sim = Sim::new();
    let mut pbx = Phone::new("5000", 9);
    let req = pbx.request(
        "INVITE",
        "sip:*86@parley",
        "*86",
        "pbx1",
        1,
        "Diversion: <sip:777@pbx>\r\n",
        OFFER,
    );
    assert_eq!(sim.send(req, pbx.target()).1.unwrap().status, 404);
}

// ---- message waiting ----

fn subscribe(
    sim: &mut Sim,
    phone: &mut Phone,
    mailbox: &str,
    expires: u32,
    call_id: &str,
    to_tag: Option<&str>,
) -> Option<Response> {
    let mut req = phone.request(
        "SUBSCRIBE",
        &format!("sip:{mailbox}@parley"),
        mailbox,
        call_id,
        1 + phone.n,
        &format!("Event: message-summary\r\nExpires: {expires}\r\n"),
        "",
    );
    if let Some(t) = to_tag {
        let to = format!("{};tag={t}", req.headers.get("To").unwrap());
        req.headers.set("To", &to);
    }
    let password = phone.password.clone();
    sim.send_authorized(phone, req, &password).1
}

#[test]
fn a_subscription_gets_200_then_a_notify_with_the_counts() {
    let mut sim = Sim::new();
    sim.counts.insert("100".into(), Counts { new: 2, old: 1 });
    let mut alice = Phone::new("100", 2);
    let ok = subscribe(&mut sim, &mut alice, "100", 600, "s1", None).unwrap();
    assert_eq!(ok.status, 200);
    assert!(
        sim.sent_to(&alice, Method::Notify).is_empty(),
        "the NOTIFY follows the 200"
    );
    sim.advance(Duration::from_millis(50));
    let n = sim.sent_to(&alice, Method::Notify).pop().unwrap();
    let body = String::from_utf8_lossy(&n.request.body).to_string();
    assert!(body.contains("Voice-Message: 2/1"), "{body}");
    assert!(n
        .request
        .headers
        .get("Subscription-State")
        .unwrap()
        .starts_with("active"));
    assert_eq!(sim.sw.view(sim.now).mwi_subscriptions, 1);
}

#[test]
fn a_subscription_to_another_mailbox_is_refused() {
    let mut sim = Sim::new();
    let mut alice = Phone::new("100", 2);
    assert_eq!(
        subscribe(&mut sim, &mut alice, "101", 600, "s1", None)
            .unwrap()
            .status,
        403
    );
}

#[test]
fn a_subscription_is_refreshed_in_its_dialog_and_lapses_when_not() {
    let mut sim = Sim::new();
    let mut alice = Phone::new("100", 2);
    let ok = subscribe(&mut sim, &mut alice, "100", 120, "s1", None).unwrap();
    let tag = ok.headers.to().unwrap().tag().unwrap().to_string();
    sim.advance(Duration::from_secs(100));
    let again = subscribe(&mut sim, &mut alice, "100", 120, "s1", Some(&tag)).unwrap();
    assert_eq!(again.status, 200);
    assert_eq!(again.headers.to().unwrap().tag(), Some(tag.as_str()));
    sim.advance(Duration::from_secs(100));
    assert_eq!(sim.sw.view(sim.now).mwi_subscriptions, 1);
    sim.advance(Duration::from_secs(30));
    assert_eq!(sim.sw.view(sim.now).mwi_subscriptions, 0);
    // A refresh of a subscription that is gone: 481.
    assert_eq!(
        subscribe(&mut sim, &mut alice, "100", 120, "s1", Some(&tag))
            .unwrap()
            .status,
        481
    );
}

#[test]
fn unsubscribing_gets_a_final_notify() {
    let mut sim = Sim::new();
    let mut alice = Phone::new("100", 2);
    let ok = subscribe(&mut sim, &mut alice, "100", 600, "s1", None).unwrap();
    let tag = ok.headers.to().unwrap().tag().unwrap().to_string();
    sim.advance(Duration::from_millis(50));
    subscribe(&mut sim, &mut alice, "100", 0, "s1", Some(&tag));
    sim.advance(Duration::from_millis(50));
    let last = sim.sent_to(&alice, Method::Notify).pop().unwrap();
    assert!(last
        .request
        .headers
        .get("Subscription-State")
        .unwrap()
        .starts_with("terminated"));
    assert_eq!(sim.sw.view(sim.now).mwi_subscriptions, 0);
}

#[test]
fn a_notify_refused_481_ends_the_subscription() {
    let mut sim = Sim::new();
    let mut alice = Phone::new("100", 2);
    subscribe(&mut sim, &mut alice, "100", 600, "s1", None);
    sim.advance(Duration::from_millis(50));
    sim.reply(&alice, Method::Notify, 481, "");
    assert_eq!(sim.sw.view(sim.now).mwi_subscriptions, 0);
}

#[test]
fn a_new_message_notifies_the_subscriber_and_an_unchanged_count_does_not() {
    let mut sim = Sim::new();
    let mut carol = Phone::new("102", 5);
    subscribe(&mut sim, &mut carol, "102", 3600, "s1", None);
    sim.advance(Duration::from_millis(50));
    let before = sim.sent_to(&carol, Method::Notify).len();
    leave_message(&mut sim, 4000);
    let notes = sim.sent_to(&carol, Method::Notify);
    assert_eq!(notes.len(), before + 1);
    assert!(
        String::from_utf8_lossy(&notes.last().unwrap().request.body).contains("Voice-Message: 1/0")
    );
    sim.sw.mailbox_changed("102");
    sim.run();
    assert_eq!(
        sim.sent_to(&carol, Method::Notify).len(),
        before + 1,
        "counts unchanged: no NOTIFY"
    );
}

#[test]
fn the_administrator_forces_the_lamp_and_removing_an_account_drops_its_phones() {
    let mut sim = Sim::new();
    let mut alice = Phone::new("100", 2);
    sim.register(&mut alice, 3600);
    assert_eq!(sim.sw.set_lamp(sim.now, "100", Counts::default(), true), 1);
    sim.run();
    let n = sim.sent_to(&alice, Method::Notify).pop().unwrap();
    assert!(String::from_utf8_lossy(&n.request.body).contains("Messages-Waiting: yes"));
    assert!(sim.sw.account_removed("100"));
    assert!(sim.sw.view(sim.now).registrations.is_empty());
}

#[test]
fn an_unlock_by_the_administrator_lifts_an_address_lockout() {
    let mut sim = Sim::new();
    let mut mallory = Phone::new("100", 66);
    for _ in 0..3 {
        let req = mallory.request("REGISTER", "sip:parley", "100", "g", 1, "", "");
        sim.send_authorized(&mut mallory, req, "guess");
    }
    assert!(sim.sw.unlock("127.0.0.66"));
    assert!(sim.sw.unlock("100"));
    assert_eq!(sim.register(&mut mallory, 600), 200);
}

// ---- what parallel requests must not outrun ----

#[test]
fn guesses_sent_in_parallel_cannot_outrun_the_lockout() {
    let mut sim = Sim::new();
    let mut mallory = Phone::new("100", 66);
    // Ten guesses, each challenged, then all sent before any lookup is answered; the last is right.
    let mut authed = Vec::new();
    for i in 0..10 {
        let req = mallory.request("REGISTER", "sip:parley", "100", &format!("g{i}"), 1, "", "");
        let (_, ch) = sim.send(req.clone(), mallory.target());
        let guess = if i == 9 { "secret100" } else { "guess" };
        authed.push(mallory.authorize(&req, &ch.unwrap(), guess));
    }
    sim.hold = true;
    let txs: Vec<TxId> = authed
        .into_iter()
        .map(|r| sim.send(r, mallory.target()).0)
        .collect();
    sim.release();
    let statuses: Vec<u16> = txs
        .iter()
        .map(|t| sim.final_on(*t).unwrap().status.as_u16())
        .collect();
    // The lockout after the third wrong guess holds for the rest, the right one included.
    assert!(statuses.iter().all(|s| *s == 403), "{statuses:?}");
    assert!(sim
        .sw
        .view(sim.now)
        .lockouts
        .iter()
        .any(|l| l.key == "127.0.0.66"));
}

#[test]
fn a_burst_of_calls_cannot_outrun_the_calls_per_account_bound() {
    let mut c = config();
    c.limits.calls_per_account = 2;
    let mut sim = Sim::with(c);
    let (mut alice, bob) = two_phones(&mut sim);
    // Five INVITEs, authenticated one after the other while the directory has answered none.
    let mut txs = Vec::new();
    for n in 0..5 {
        let call_id = format!("burst-{n}");
        let req = alice.request("INVITE", "sip:101@parley", "101", &call_id, 1, "", OFFER);
        let (_, ch) = sim.send(req.clone(), alice.target());
        let authed = alice.authorize(&req, &ch.unwrap(), "secret100");
        sim.hold = true;
        txs.push(sim.send(authed, alice.target()).0);
        // The credentials are answered; the directory is held.
        let held = std::mem::take(&mut sim.held);
        sim.hold = true;
        for c in held {
            match c {
                Command::Credentials { .. } => sim.carry_out(c),
                other => sim.held.push(other),
            }
        }
        sim.run();
    }
    sim.release();
    let refused = txs
        .iter()
        .filter(|t| sim.final_on(**t).is_some_and(|r| r.status == 403))
        .count();
    assert_eq!(refused, 3);
    assert_eq!(sim.sent_to(&bob, Method::Invite).len(), 2);
}

#[test]
fn a_cancel_while_the_relay_opens_ends_the_call_and_the_late_relay_is_closed() {
    let mut sim = Sim::new();
    let (mut alice, bob) = two_phones(&mut sim);
    sim.hold_media = true;
    let (tx, call_id) = sim.dial(&mut alice, "101");
    let cancel = alice.request("CANCEL", "sip:101@parley", "101", &call_id, 2, "", "");
    sim.sw.handle_in_transaction(sim.now, tx, cancel);
    sim.run();
    assert_eq!(sim.final_on(tx).unwrap().status, 487);
    assert_eq!(sim.records.last().unwrap().outcome, Outcome::Cancelled);
    sim.open_held_relays();
    assert!(
        sim.sent_to(&bob, Method::Invite).is_empty(),
        "the phone never rang"
    );
    assert!(
        sim.relays.values().all(|open| !open),
        "the late relay was closed"
    );
}

#[test]
fn a_voicemail_call_forgotten_during_its_pin_check_releases_the_reservation() {
    let mut c = config();
    c.vm.pin_guard.max_failures = 2;
    let mut sim = Sim::with(c);
    sim.pins.insert("100".into(), "4321".into());
    for _ in 0..3 {
        let (_, _, _, vm) = own_mailbox(&mut sim);
        // The check is asked for, and the call faults before its answer comes back.
        sim.hold_pin = true;
        sim.keys(vm, "4321#");
        sim.sw.forget(sim.now, vm);
        sim.run();
        sim.hold_pin = false;
    }
    // Each forgotten check counted as one wrong PIN and then expired with the window; none is stuck
    // in flight: after the lockout passes, the right PIN opens the mailbox.
    sim.advance(Duration::from_secs(3600));
    let (_, _, _, vm) = own_mailbox(&mut sim);
    sim.keys(vm, "4321#");
    assert!(sim.has_io(vm, |io| *io == VmIo::LoadMailbox("100".into())));
}

#[test]
fn with_nothing_new_listening_starts_in_old_and_two_one_opens_old_as_well() {
    let mut sim = Sim::new();
    sim.pins.insert("100".into(), "4321".into());
    sim.old_message = true;
    let (_, _, _, vm) = own_mailbox(&mut sim);
    sim.keys(vm, "4321#");
    sim.keys(vm, "1");
    assert!(sim.last_play(vm).unwrap().1.contains(&Audio::Message(7)));
    let (_, _, _, vm) = own_mailbox(&mut sim);
    sim.keys(vm, "4321#");
    sim.keys(vm, "2");
    assert!(sim
        .last_play(vm)
        .unwrap()
        .1
        .contains(&prompt("vm-changeto")));
    sim.keys(vm, "1");
    assert!(sim.last_play(vm).unwrap().1.contains(&prompt("vm-Old")));
    sim.keys(vm, "1");
    assert!(sim.last_play(vm).unwrap().1.contains(&Audio::Message(7)));
}

mod conference;
mod outside;
mod routes;
