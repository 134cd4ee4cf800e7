//! A call through Parley as a B2BUA: the caller's leg (A) and one forked leg per registered contact
//! of the callee, or a leg to a carrier through a trunk (B; an [`Outward`] leg answers the carrier's
//! digest challenges). Owns dialog state, forking, CANCEL, hold/resume re-INVITEs, BYE from either
//! side and the no-answer timer. Never does IO: the shell feeds `handle_*` and drains
//! [`Call::poll_output`]; relay ports and randomness come in at creation.

pub mod build;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

pub use build::{Dialog, LocalAddr};

use crate::ids::Ids;
use crate::sdp::{AudioSession, Direction, Format, LocalSdp, SdpError};
use crate::sip::digest::{Challenge, ClientSecret};
use crate::sip::header::NameAddr;
use crate::sip::StatusCode;
use crate::sip::{Method, Request, Response, SipUri};
use crate::target::Target;
use crate::trunk::{CallerIdHeader, Codec, TrunkName};

/// A SIP transaction (server or client), as the shell's adapter names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(pub u64);

/// Settings for calls.
#[derive(Debug, Clone)]
pub struct CallConfig {
    /// Parley's address in Via and Contact.
    pub local: LocalAddr,
    /// Parley's media address (IP) written into SDP.
    pub media_ip: IpAddr,
    /// How long the callee's phones ring before the call is given up.
    pub no_answer: Duration,
}

/// One contact of the callee to ring.
#[derive(Debug, Clone)]
pub struct ForkTarget {
    /// The contact URI (Request-URI of the forked INVITE).
    pub uri: SipUri,
    /// Where to send it (the registration's flow).
    pub target: Target,
    /// A leg to the outside through a trunk: who the call is from and to as the carrier sees it, and
    /// how to answer its challenges. `None`: a phone of Parley's own.
    pub outward: Option<Outward>,
    /// Whom it rings, for the call record: the extension whose phone it is, or the number outside.
    pub owner: String,
}

/// How a leg through a trunk presents itself to the carrier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outward {
    /// The trunk it goes through.
    pub trunk: TrunkName,
    /// The caller ID as the carrier wants it written (`+15855550100`): the user of the From URI,
    /// and of the identity header the trunk asks for.
    pub from_user: String,
    /// The number called: the user of the To URI.
    pub to_user: String,
    /// The carrier's host, the host of both.
    pub host: String,
    /// The digest credentials for the carrier's 401/407 (username, password), if it has any.
    pub auth: Option<(String, ClientSecret)>,
    /// Where the caller ID goes besides From.
    pub caller_id: CallerIdHeader,
    /// The far end must not see the caller's number: From is anonymous (RFC 3323), the number goes
    /// to the carrier only, in the identity header with `Privacy: id`.
    pub anonymous: bool,
    /// The codecs the carrier may be offered (empty: all of the caller's).
    pub codecs: Vec<Codec>,
    /// Follow-Me: the person answering must accept the call first (none: bridged on answer).
    pub screen: Option<ScreenSpec>,
}

/// How a Follow-Me leg is screened: once the far end answers, Parley (not the caller) talks to it:
/// it plays `audio` and waits up to `wait` from the answer for `1` (accept: the call is bridged)
/// or `2` (decline); anything else in that time, or hanging up, declines. Only an accepted leg
/// is bridged, so a mobile's own voicemail never takes the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenSpec {
    /// What the person answering hears (the caller's number, "press 1 to accept").
    pub audio: Vec<crate::vm::Audio>,
    /// How long after the answer the key is awaited (again after each wrong PIN).
    pub wait: Duration,
    /// The call is taken with the user's mailbox PIN and `#` instead of `1` (`2` and `#`
    /// declines); a wrong PIN is refused ([`Output::ScreenPin`]), and the third drops the leg.
    pub pin: bool,
    /// What a wrong PIN hears before it may try again.
    pub retry_audio: Vec<crate::vm::Audio>,
}

/// Wrong PINs a Follow-Me leg may enter before it is dropped.
pub const SCREEN_PIN_TRIES: u32 = 3;

/// Parley's own media on a screened leg, for the shell to start in the relay's callee side (and
/// stop with [`Output::ScreenEnd`]): the relay neither forwards the caller's audio to it nor its
/// audio to the caller meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screening {
    /// The leg's RTP address (its SDP).
    pub remote: SocketAddr,
    /// Where its signalling comes from.
    pub signalling: IpAddr,
    /// The audio payload type it answered with (0 PCMU, 8 PCMA).
    pub pt: u8,
    /// Its telephone-event payload type, if any.
    pub te: Option<u8>,
    /// What to play.
    pub audio: Vec<crate::vm::Audio>,
}

impl Outward {
    /// The From header value (without its tag) and the identity headers of an INVITE through the
    /// trunk; `display` is the caller's name as it is written before the URI (`"Alice" `).
    fn identity(&self, display: &str) -> (String, Vec<(&'static str, String)>) {
        let asserted = format!("<sip:{}@{}>", self.from_user, self.host);
        let mut headers = Vec::new();
        if self.anonymous {
            headers.push(("Privacy", "id".to_string()));
            headers.push(match self.caller_id {
                CallerIdHeader::Rpid => (
                    "Remote-Party-ID",
                    format!("{asserted};party=calling;privacy=full;screen=yes"),
                ),
                _ => ("P-Asserted-Identity", asserted),
            });
            let from = "\"Anonymous\" <sip:anonymous@anonymous.invalid>".to_string();
            return (from, headers);
        }
        match self.caller_id {
            CallerIdHeader::From => {}
            CallerIdHeader::Pai => {
                headers.push(("P-Asserted-Identity", format!("{display}{asserted}")))
            }
            CallerIdHeader::Rpid => headers.push((
                "Remote-Party-ID",
                format!("{display}{asserted};party=calling;privacy=off;screen=yes"),
            )),
        }
        (format!("{display}{asserted}"), headers)
    }
}

/// `formats` without the audio codecs a trunk does not take (`codecs` empty: all of them);
/// telephone-event is kept.
fn keep_codecs(formats: &[Format], codecs: &[Codec]) -> Vec<Format> {
    formats
        .iter()
        .filter(|f| {
            codecs.is_empty()
                || f.is_telephone_event()
                || codecs
                    .iter()
                    .any(|c| c.sdp_name().eq_ignore_ascii_case(&f.name))
        })
        .cloned()
        .collect()
}

/// Whether an offer of `formats` leaves an audio codec a trunk taking `codecs` can be offered
/// (a trunk without a list of codecs takes any offer).
pub fn offer_fits(formats: &[Format], codecs: &[Codec]) -> bool {
    codecs.is_empty()
        || keep_codecs(formats, codecs)
            .iter()
            .any(|f| !f.is_telephone_event())
}

/// A display name as the inside of a quoted string (RFC 3261 §25.1: `\` and `"` escaped; control
/// characters, which a quoted string cannot hold, left out).
fn quoted(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().filter(|c| !c.is_control()) {
        if c == '\\' || c == '"' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// How many digest challenges one outside leg answers (a second challenge for a fresh answer means
/// the credentials are wrong; the leg then fails with it).
const MAX_LEG_CHALLENGES: u32 = 2;

/// Everything needed to start a call.
#[derive(Debug, Clone)]
pub struct NewCall {
    /// The caller's INVITE.
    pub invite: Request,
    /// Its server transaction.
    pub tx: TxId,
    /// Where it came from.
    pub source: Target,
    /// Caller's extension.
    pub caller: String,
    /// Caller's display name, if known.
    pub caller_name: Option<String>,
    /// Callee's extension.
    pub callee: String,
    /// The callee's contacts to ring in parallel.
    pub forks: Vec<ForkTarget>,
    /// Relay port facing the caller.
    pub a_media_port: u16,
    /// Relay port facing the callee.
    pub b_media_port: u16,
    /// Seed for tags, branches and Call-IDs.
    pub seed: u64,
    /// When the callee does not answer, is busy or refuses, hand the caller to voicemail
    /// ([`CallEvent::Unanswered`]) instead of failing the call.
    pub divert: bool,
    /// How long it rings before it is given up, when not the configured no-answer time (a call to
    /// the outside rings as long as the far end lets it).
    pub ring_for: Option<Duration>,
    /// Legs tried one after the other when every leg failed with a status that says the way was
    /// at fault rather than the callee (408, 5xx): the next trunk after the first.
    pub alternates: Vec<ForkTarget>,
    /// The connection attempts after the first (whose legs are `forks`, ringing `ring_for`): each
    /// starts when the one before rang out or every leg of it refused.
    pub next_attempts: Vec<NextAttempt>,
    /// The To tag the caller already saw (a call forwarded from another user's route keeps the
    /// caller's dialog); none: a new one.
    pub a_tag: Option<String>,
}

/// A connection attempt after the first: its legs ring at once for `ring_for`. A phone that rang
/// in the attempt before and rings in this one too keeps ringing (it is not rung twice).
#[derive(Debug, Clone)]
pub struct NextAttempt {
    /// The legs.
    pub forks: Vec<ForkTarget>,
    /// How long they ring.
    pub ring_for: Duration,
}

/// Which side of the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The caller.
    A,
    /// The callee (fork index).
    B(usize),
}

/// Where the relay should send each side's media.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaUpdate {
    /// The caller's RTP address (from its SDP), `None` when on hold with no address.
    pub a_remote: Option<SocketAddr>,
    /// The callee's RTP address.
    pub b_remote: Option<SocketAddr>,
    /// The IP the caller's signalling comes from (its media may come from there too, behind NAT).
    pub a_signalling: Option<IpAddr>,
    /// The IP the callee's signalling comes from.
    pub b_signalling: Option<IpAddr>,
}

/// What happened to the call, for logs and call records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    /// The callee answered on a fork.
    Answered,
    /// The call is over; the status the caller saw (200 if it was answered).
    Ended {
        /// Final status (200 for an answered call).
        status: StatusCode,
        /// Who or what ended it.
        reason: &'static str,
    },
    /// Nobody answered (or the callee was busy) and the call is diverted: the shell takes the caller's
    /// leg with [`Call::a_leg`] and answers it itself; the call only finishes its forks from now on.
    Unanswered {
        /// The callee was busy or refused (rather than not answering).
        busy: bool,
    },
    /// A DTMF digit received in signalling (SIP INFO).
    Dtmf(char),
}

/// An action for the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Respond on a server transaction.
    Respond {
        /// The transaction.
        tx: TxId,
        /// The response.
        response: Response,
    },
    /// Send a request in a new client transaction; responses come back via [`Call::handle_response`].
    Request {
        /// The side it goes to.
        side: Side,
        /// The request.
        request: Request,
        /// Where to send it.
        target: Target,
    },
    /// Send an ACK for a 2xx (no transaction).
    Ack {
        /// The ACK.
        request: Request,
        /// Where to send it.
        target: Target,
    },
    /// Reconfigure the relay.
    Media(MediaUpdate),
    /// Start screening a Follow-Me leg that answered ([`Call::handle_screen_digit`] takes its keys).
    Screen(Screening),
    /// Stop screening (the leg was accepted, declined or is gone).
    ScreenEnd,
    /// The screened leg entered a PIN: check it against the callee's mailbox PIN and answer with
    /// [`Call::handle_screen_pin`].
    ScreenPin {
        /// The digits.
        pin: crate::vm::pin::Pin,
        /// Which screening it is for: an answer for another (a leg gone meanwhile) is ignored.
        screening: u64,
    },
    /// Report an event.
    Event(CallEvent),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ringing,
    Answered,
    Ended,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ForkState {
    Calling,
    Proceeding,
    /// A Follow-Me leg answered and hears the screening prompt until this time.
    Screening(Instant),
    Answered,
    Done,
}

#[derive(Debug)]
struct Fork {
    target: Target,
    invite: Request,
    dialog: Dialog,
    state: ForkState,
    cancel_wanted: bool,
    remote: Option<AudioSession>,
    /// The carrier's credentials (an outside leg), and how many challenges were answered.
    auth: Option<(String, ClientSecret)>,
    challenges: u32,
    /// The trunk of an outside leg.
    trunk: Option<TrunkName>,
    /// The codecs the leg may be offered (empty: all).
    codecs: Vec<Codec>,
    /// Follow-Me: accepted by a key before it is bridged.
    screen: Option<ScreenSpec>,
    /// Whom it rings (an extension or a number).
    owner: String,
}

#[derive(Debug)]
struct Pending {
    from: Side,
    tx: TxId,
    invite_cseq: u32,
    request: Request,
}

/// One B2BUA call. See the module documentation.
#[derive(Debug)]
pub struct Call {
    config: CallConfig,
    ids: Ids,
    state: State,
    caller: String,
    callee: String,
    a_tx: TxId,
    a_invite: Request,
    a_dialog: Dialog,
    a_target: Target,
    a_offer: AudioSession,
    a_sdp: LocalSdp,
    b_sdp: LocalSdp,
    forks: Vec<Fork>,
    answered: Option<usize>,
    a_final_sent: bool,
    ringing_sent: bool,
    no_answer_at: Option<Instant>,
    give_up_at: Option<Instant>,
    pending: Option<Pending>,
    fork_failures: Vec<StatusCode>,
    divert: bool,
    /// The caller's display name as the B legs' From writes it (`"Alice" `).
    display: String,
    /// Legs still to try should every leg fail on the way (failover).
    alternates: VecDeque<ForkTarget>,
    attempts: VecDeque<NextAttempt>,
    /// The PIN a screened leg is typing, whether it is being checked, and the wrong ones so far.
    screen_keys: String,
    screen_checking: bool,
    screen_wrong: u32,
    /// Counts the legs screened, so that a PIN check's answer finds its own.
    screen_generation: u64,
    out: VecDeque<Output>,
}

/// The caller's leg of an unanswered call, for the shell to answer itself after
/// [`CallEvent::Unanswered`].
#[derive(Debug, Clone)]
pub struct ALeg {
    /// The caller's INVITE.
    pub invite: Request,
    /// Its server transaction (still without a final response).
    pub tx: TxId,
    /// Where it came from.
    pub source: Target,
    /// The To tag used in the provisional responses.
    pub tag: String,
}

impl Call {
    /// Start a call: answers 100 to the caller and sends INVITEs to every fork, or refuses the call
    /// (the returned call then holds only the refusal and is already ended).
    pub fn new(now: Instant, config: CallConfig, new: NewCall) -> Call {
        let mut ids = Ids::new(new.seed);
        let fresh = ids.tag();
        let a_tag = new.a_tag.clone().unwrap_or(fresh);
        let a_dialog = Dialog::answering(&new.invite, &a_tag, new.source.transport);
        let session_seed = ids.next_u64() >> 16;
        let offer = AudioSession::parse(&new.invite.body);
        let a_offer = offer.clone().unwrap_or(AudioSession {
            addr: SocketAddr::new(config.media_ip, 0),
            formats: Vec::new(),
            direction: Direction::SendRecv,
            ptime: None,
        });
        let mk_sdp = |port: u16, id: u64| LocalSdp {
            session_id: id,
            version: 1,
            addr: SocketAddr::new(config.media_ip, port),
            formats: a_offer.formats.clone(),
            direction: a_offer.direction,
            ptime: a_offer.ptime,
        };
        let a_sdp = mk_sdp(new.a_media_port, session_seed);
        let b_sdp = mk_sdp(new.b_media_port, session_seed + 1);
        let mut call = Call {
            caller: new.caller.clone(),
            callee: new.callee.clone(),
            a_tx: new.tx,
            a_invite: new.invite.clone(),
            a_dialog,
            a_target: new.source,
            a_offer,
            a_sdp,
            b_sdp,
            forks: Vec::new(),
            answered: None,
            a_final_sent: false,
            ringing_sent: false,
            no_answer_at: Some(now + new.ring_for.unwrap_or(config.no_answer)),
            give_up_at: None,
            pending: None,
            fork_failures: Vec::new(),
            divert: new.divert,
            display: String::new(),
            alternates: VecDeque::new(),
            attempts: VecDeque::new(),
            screen_keys: String::new(),
            screen_checking: false,
            screen_wrong: 0,
            screen_generation: 0,
            out: VecDeque::new(),
            state: State::Ringing,
            ids,
            config,
        };
        match offer {
            Err(SdpError::NoCommonCodec) => {
                return call.refuse(StatusCode::NOT_ACCEPTABLE_HERE, "no common codec")
            }
            Err(SdpError::Malformed(_)) if new.invite.body.is_empty() => {
                // Delayed offer (INVITE without SDP) is not supported yet.
                return call.refuse(StatusCode::NOT_ACCEPTABLE_HERE, "no SDP offer");
            }
            Err(SdpError::Malformed(_)) => {
                return call.refuse(StatusCode::BAD_REQUEST, "malformed SDP")
            }
            Ok(_) => {}
        }
        if new.forks.is_empty() {
            return call.refuse(StatusCode::TEMPORARILY_UNAVAILABLE, "callee not registered");
        }
        call.respond_a(StatusCode::TRYING, None);
        call.display = new
            .caller_name
            .as_deref()
            .map(|n| format!("\"{}\" ", quoted(n)))
            .unwrap_or_default();
        call.alternates = new.alternates.into();
        call.attempts = new.next_attempts.into();
        for fork in new.forks {
            call.start_fork(fork);
        }
        call
    }

    /// Send the INVITE of a new B leg.
    fn start_fork(&mut self, fork: ForkTarget) {
        let tag = self.ids.tag();
        let branch = self.ids.branch();
        let (contact_user, to_user, host) = match &fork.outward {
            Some(o) if o.anonymous => ("parley".into(), o.to_user.clone(), o.host.clone()),
            Some(o) => (o.from_user.clone(), o.to_user.clone(), o.host.clone()),
            None => (
                self.caller.clone(),
                self.callee.clone(),
                self.config.local.host.clone(),
            ),
        };
        let (from, identity) = match &fork.outward {
            Some(o) => o.identity(&self.display),
            None => (
                format!("{}<sip:{contact_user}@{host}>", self.display),
                Vec::new(),
            ),
        };
        let codecs = fork
            .outward
            .as_ref()
            .map(|o| o.codecs.clone())
            .unwrap_or_default();
        let mut dialog = Dialog {
            call_id: self.ids.call_id(),
            local: format!("{from};tag={tag}"),
            remote: format!("<sip:{to_user}@{host}>"),
            remote_target: fork.uri.clone(),
            route: Vec::new(),
            local_cseq: 0,
            transport: fork.target.transport,
        };
        let body = LocalSdp {
            formats: keep_codecs(&self.b_sdp.formats, &codecs),
            ..self.b_sdp.clone()
        }
        .render();
        let mut invite = build::in_dialog(
            &mut dialog,
            Method::Invite,
            &self.config.local,
            &contact_user,
            &branch,
            Some(body),
        );
        for (name, value) in identity {
            invite.headers.push(name, &value);
        }
        self.out.push_back(Output::Request {
            side: Side::B(self.forks.len()),
            request: invite.clone(),
            target: fork.target,
        });
        self.forks.push(Fork {
            target: fork.target,
            invite,
            dialog,
            state: ForkState::Calling,
            cancel_wanted: false,
            remote: None,
            trunk: fork.outward.as_ref().map(|o| o.trunk.clone()),
            screen: fork.outward.as_ref().and_then(|o| o.screen.clone()),
            owner: fork.owner.clone(),
            auth: fork.outward.and_then(|o| o.auth),
            challenges: 0,
            codecs,
        });
    }

    fn refuse(mut self, status: StatusCode, reason: &'static str) -> Call {
        self.respond_a(status, None);
        self.finish(status, reason);
        self
    }

    /// The caller's Call-ID (for routing in-dialog requests).
    pub fn a_call_id(&self) -> &str {
        &self.a_dialog.call_id
    }

    /// The Call-IDs of the forks, by fork index.
    pub fn b_call_ids(&self) -> Vec<String> {
        self.forks
            .iter()
            .map(|f| f.dialog.call_id.clone())
            .collect()
    }

    /// The caller's leg, to answer it after [`CallEvent::Unanswered`].
    pub fn a_leg(&self) -> ALeg {
        ALeg {
            invite: self.a_invite.clone(),
            tx: self.a_tx,
            source: self.a_target,
            tag: crate::sip::header::param(&self.a_dialog.local, "tag")
                .unwrap_or_default()
                .to_string(),
        }
    }

    /// Keep only the legs still to be tried whose trunk `keep` says can take the call now (a trunk
    /// found down or full since the call was placed is skipped).
    pub fn retain_alternates(&mut self, keep: impl Fn(&TrunkName) -> bool) {
        self.alternates
            .retain(|f| f.outward.as_ref().is_none_or(|o| keep(&o.trunk)));
    }

    /// Whether legs are left to try when the current one fails on the way.
    pub fn has_alternates(&self) -> bool {
        !self.alternates.is_empty()
    }

    /// The trunk the call goes out through: the answered leg's, else the latest leg's (the one
    /// ringing now, after any failover); `None` for a call to Parley's own phones.
    pub fn trunk(&self) -> Option<&TrunkName> {
        match self.answered {
            Some(i) => self.forks.get(i)?.trunk.as_ref(),
            None => self.forks.last()?.trunk.as_ref(),
        }
    }

    /// Caller and callee extensions.
    pub fn parties(&self) -> (&str, &str) {
        (&self.caller, &self.callee)
    }

    /// Whom the leg that answered rings (an extension, or a number outside).
    pub fn answered_by(&self) -> Option<&str> {
        self.answered.map(|i| self.forks[i].owner.as_str())
    }

    /// Whether the callee answered and the call is up.
    pub fn is_answered(&self) -> bool {
        self.state == State::Answered
    }

    /// Whether the call is over and can be dropped once outputs are drained.
    pub fn is_ended(&self) -> bool {
        self.state == State::Ended
            && self
                .forks
                .iter()
                .all(|f| f.state == ForkState::Done || self.answered.is_some())
    }

    /// The next action for the shell.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// The next time [`Call::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<(Instant, &'static str)> {
        if let Some((_, t)) = self.screening() {
            if self.screen_checking {
                return None;
            }
            return Some((t, "waiting for a key on a Follow-Me leg"));
        }
        match (self.no_answer_at, self.give_up_at) {
            (Some(t), _) if self.state == State::Ringing => Some((t, "no answer")),
            (_, Some(t)) => Some((t, "waiting for forks to finish")),
            _ => None,
        }
    }

    /// The leg being screened, and until when.
    fn screening(&self) -> Option<(usize, Instant)> {
        self.forks
            .iter()
            .enumerate()
            .find_map(|(i, f)| match f.state {
                ForkState::Screening(t) => Some((i, t)),
                _ => None,
            })
    }

    /// A key pressed on the Follow-Me leg being screened: `1` accepts it (the call is bridged to
    /// it), `2` declines it; other keys are ignored.
    pub fn handle_screen_digit(&mut self, now: Instant, key: char) {
        let Some((i, _)) = self.screening() else {
            return;
        };
        if self.forks[i].screen.as_ref().is_some_and(|s| s.pin) {
            return self.screen_pin_key(now, i, key);
        }
        match key {
            '1' => {
                self.end_screening();
                let answer = self.forks[i].remote.clone();
                match answer {
                    Some(a) if self.state == State::Ringing => self.take_answer(i, a),
                    _ => self.screened_out(now, i, StatusCode::TEMPORARILY_UNAVAILABLE),
                }
            }
            '2' => self.screened_out(now, i, StatusCode::DECLINE),
            _ => {}
        }
    }

    /// A key of a PIN being entered on screened leg `i`.
    fn screen_pin_key(&mut self, now: Instant, i: usize, key: char) {
        if self.screen_checking {
            return;
        }
        match key {
            '#' => {
                let entry = std::mem::take(&mut self.screen_keys);
                if entry == "2" {
                    return self.screened_out(now, i, StatusCode::DECLINE);
                }
                // A lone # is no attempt.
                if let Some(pin) =
                    crate::vm::pin::Pin::new(entry).filter(|p| !p.expose().is_empty())
                {
                    self.screen_checking = true;
                    self.out.push_back(Output::ScreenPin {
                        pin,
                        screening: self.screen_generation,
                    });
                }
            }
            '*' => self.screen_keys.clear(),
            d if d.is_ascii_digit() && self.screen_keys.len() < 20 => self.screen_keys.push(d),
            _ => {}
        }
    }

    /// The PIN the screened leg entered was right (the call is bridged to it) or wrong (it hears so
    /// and may try again; the third wrong one drops it).
    pub fn handle_screen_pin(&mut self, now: Instant, screening: u64, ok: bool) {
        if screening != self.screen_generation {
            return;
        }
        let Some((i, _)) = self.screening() else {
            return;
        };
        if !std::mem::take(&mut self.screen_checking) {
            return;
        }
        if ok {
            self.end_screening();
            return match self.forks[i].remote.clone() {
                Some(a) if self.state == State::Ringing => self.take_answer(i, a),
                _ => self.screened_out(now, i, StatusCode::TEMPORARILY_UNAVAILABLE),
            };
        }
        self.screen_wrong += 1;
        if self.screen_wrong >= SCREEN_PIN_TRIES {
            return self.screened_out(now, i, StatusCode::FORBIDDEN);
        }
        let (Some(spec), Some(remote)) =
            (self.forks[i].screen.clone(), self.forks[i].remote.clone())
        else {
            return;
        };
        self.forks[i].state = ForkState::Screening(now + spec.wait);
        self.out
            .push_back(self.screening_of(i, &remote, spec.retry_audio));
    }

    /// The media end's orders for screening leg `i`, which answered `answer`.
    fn screening_of(
        &self,
        i: usize,
        answer: &AudioSession,
        audio: Vec<crate::vm::Audio>,
    ) -> Output {
        let audio_pt = answer
            .formats
            .iter()
            .find(|f| !f.is_telephone_event())
            .map_or(0, |f| f.pt);
        let te = answer
            .formats
            .iter()
            .find(|f| f.is_telephone_event())
            .map(|f| f.pt);
        Output::Screen(Screening {
            remote: answer.addr,
            signalling: self.forks[i].target.addr.ip(),
            pt: audio_pt,
            te,
            audio,
        })
    }

    /// A screened leg that was not accepted: hung up on, and a failure of its fork.
    fn screened_out(&mut self, now: Instant, i: usize, status: StatusCode) {
        if !matches!(self.forks[i].state, ForkState::Screening(_)) {
            return;
        }
        self.end_screening();
        self.forks[i].state = ForkState::Done;
        self.send_bye(Side::B(i));
        self.fork_failed(now, status);
    }

    /// Timers: no answer rings out; a call stuck ending is dropped.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some((i, until)) = self.screening() {
            if self.screen_checking {
                // A PIN is being checked: its answer decides; nothing times out meanwhile.
                return;
            }
            if now >= until {
                self.screened_out(now, i, StatusCode::TEMPORARILY_UNAVAILABLE);
            } else if self.no_answer_at.is_some_and(|t| now >= t) {
                // The person answering is deciding: the route waits for them.
                self.no_answer_at = Some(until);
            }
        }
        if self.state == State::Ringing && self.no_answer_at.is_some_and(|t| now >= t) {
            self.no_answer_at = None;
            if !self.next_attempt(now) {
                self.cancel_forks(None);
                self.fail_a(StatusCode::TEMPORARILY_UNAVAILABLE, "no answer");
            }
        }
        if self.give_up_at.is_some_and(|t| now >= t) {
            for f in &mut self.forks {
                f.state = ForkState::Done;
            }
            self.give_up_at = None;
            self.state = State::Ended;
        }
    }

    /// Shut the call down (server stopping): BYE to both sides of an answered call, else refuse and cancel.
    pub fn hangup(&mut self, now: Instant) {
        match self.state {
            State::Ringing => {
                self.cancel_forks(None);
                self.respond_a(StatusCode::SERVICE_UNAVAILABLE, None);
                self.finish(StatusCode::SERVICE_UNAVAILABLE, "shutdown");
            }
            State::Answered => {
                self.send_bye(Side::A);
                if let Some(i) = self.answered {
                    self.send_bye(Side::B(i));
                }
                self.finish(StatusCode::OK, "shutdown");
            }
            State::Ended => {}
        }
        self.give_up_at.get_or_insert(now + Duration::from_secs(2));
    }

    /// Whether an in-dialog request from `source` may act on `side` of this call: its tags name that
    /// leg's dialog and it comes from the leg's own party (the IP its signalling comes from). Anything
    /// else is a stranger who learned a Call-ID and must not steer the call (re-INVITE the media to
    /// itself, end it with BYE).
    pub fn accepts(&self, side: Side, req: &Request, source: std::net::IpAddr) -> bool {
        let (dialog, target) = match side {
            Side::A => (&self.a_dialog, self.a_target),
            Side::B(i) => match self.forks.get(i) {
                Some(f) => (&f.dialog, f.target),
                None => return false,
            },
        };
        build::belongs_to(dialog, req)
            && crate::target::canonical_ip(target.addr.ip()) == crate::target::canonical_ip(source)
    }

    /// A request within the call: from the caller (`Side::A`: CANCEL, ACK, BYE, re-INVITE) or from a fork.
    pub fn handle_request(&mut self, now: Instant, side: Side, tx: TxId, req: &Request) {
        match (&req.method, side) {
            (Method::Ack, _) => {}
            (Method::Cancel, Side::A) => {
                if self.state == State::Ringing {
                    self.cancel_forks(None);
                    self.respond_a(StatusCode::REQUEST_TERMINATED, None);
                    self.finish(StatusCode::REQUEST_TERMINATED, "caller cancelled");
                    self.give_up_at.get_or_insert(now + Duration::from_secs(32));
                }
            }
            (Method::Bye, Side::B(i))
                if self
                    .forks
                    .get(i)
                    .is_some_and(|f| matches!(f.state, ForkState::Screening(_))) =>
            {
                // The person answering hung up before accepting.
                self.reply(tx, req, StatusCode::OK);
                self.end_screening();
                self.forks[i].state = ForkState::Done;
                self.fork_failed(now, StatusCode::TEMPORARILY_UNAVAILABLE);
            }
            (Method::Bye, _) => {
                self.reply(tx, req, StatusCode::OK);
                let is_answered_fork = match side {
                    Side::A => true,
                    Side::B(i) => self.answered == Some(i),
                };
                if self.state == State::Answered && is_answered_fork {
                    let other = match side {
                        Side::A => Side::B(self.answered.unwrap_or_default()),
                        Side::B(_) => Side::A,
                    };
                    self.send_bye(other);
                    self.finish(
                        StatusCode::OK,
                        if side == Side::A {
                            "caller hung up"
                        } else {
                            "callee hung up"
                        },
                    );
                }
            }
            (Method::Invite, _) => self.handle_reinvite(side, tx, req),
            (Method::Options, _) | (Method::Info, _) => self.reply(tx, req, StatusCode::OK),
            _ => self.reply(tx, req, StatusCode::NOT_IMPLEMENTED),
        }
    }

    fn handle_reinvite(&mut self, side: Side, tx: TxId, req: &Request) {
        if self.state != State::Answered || matches!(side, Side::B(i) if self.answered != Some(i)) {
            self.reply(tx, req, StatusCode::CALL_DOES_NOT_EXIST);
            return;
        }
        if self.pending.is_some() {
            self.reply(tx, req, StatusCode::REQUEST_PENDING);
            return;
        }
        let offer = match AudioSession::parse(&req.body) {
            Ok(o) => o,
            Err(SdpError::NoCommonCodec) => {
                return self.reply(tx, req, StatusCode::NOT_ACCEPTABLE_HERE)
            }
            Err(_) => {
                return self.reply(
                    tx,
                    req,
                    if req.body.is_empty() {
                        StatusCode::NOT_ACCEPTABLE_HERE
                    } else {
                        StatusCode::BAD_REQUEST
                    },
                )
            }
        };
        let other = match side {
            Side::A => Side::B(self.answered.unwrap_or_default()),
            Side::B(_) => Side::A,
        };
        // A carrier is offered only the codecs its trunk takes; an offer without any of them is
        // refused here rather than passed on empty.
        let formats = match other {
            Side::B(i) if !offer_fits(&offer.formats, &self.forks[i].codecs) => {
                return self.reply(tx, req, StatusCode::NOT_ACCEPTABLE_HERE);
            }
            Side::B(i) => keep_codecs(&offer.formats, &self.forks[i].codecs),
            Side::A => offer.formats.clone(),
        };
        // Remember the offerer's new address; the other side gets Parley's relay address instead.
        match side {
            Side::A => self.a_offer = offer.clone(),
            Side::B(i) => self.forks[i].remote = Some(offer.clone()),
        }
        let sdp = match side {
            Side::A => &mut self.b_sdp,
            Side::B(_) => &mut self.a_sdp,
        };
        sdp.version += 1;
        sdp.formats = formats;
        sdp.direction = offer.direction;
        let body = sdp.render();
        let branch = self.ids.branch();
        let (dialog, target, user) = match other {
            Side::A => (&mut self.a_dialog, self.a_target, self.callee.clone()),
            Side::B(i) => {
                let f = &mut self.forks[i];
                (&mut f.dialog, f.target, self.caller.clone())
            }
        };
        let request = build::in_dialog(
            dialog,
            Method::Invite,
            &self.config.local,
            &user,
            &branch,
            Some(body),
        );
        self.pending = Some(Pending {
            from: side,
            tx,
            invite_cseq: request.cseq(),
            request: req.clone(),
        });
        self.out.push_back(Output::Request {
            side: other,
            request,
            target,
        });
    }

    /// A response to a request this call sent on `side`.
    pub fn handle_response(&mut self, now: Instant, side: Side, resp: &Response) {
        let (cseq, method) = resp.cseq();
        match (method, side) {
            (Method::Invite, Side::B(i))
                if self.forks.get(i).is_some_and(|f| f.invite.cseq() == cseq) =>
            {
                self.fork_invite_response(now, i, resp)
            }
            (Method::Invite, _) => self.reinvite_response(side, cseq, resp),
            _ => {}
        }
    }

    fn fork_invite_response(&mut self, now: Instant, i: usize, resp: &Response) {
        let status = resp.status;
        if status < 200 {
            if status > 100 && self.forks[i].state == ForkState::Calling {
                self.forks[i].state = ForkState::Proceeding;
            }
            if self.forks[i].cancel_wanted && self.forks[i].state == ForkState::Proceeding {
                self.send_cancel(i);
            }
            if status >= 180
                && status.is_provisional()
                && !self.ringing_sent
                && self.state == State::Ringing
            {
                self.ringing_sent = true;
                self.respond_a(StatusCode::RINGING, None);
            }
            return;
        }
        if status < 300
            && matches!(
                self.forks[i].state,
                ForkState::Screening(_) | ForkState::Answered
            )
        {
            // A 2xx again (a retransmission the stack passed on): answered already.
            return;
        }
        if status < 300 {
            self.learn_fork_dialog(i, resp);
            self.ack_fork(i, resp.cseq().0);
            if self.state != State::Ringing || self.forks[i].cancel_wanted {
                // Answered after we gave up on it (cancel crossed the 200): end that dialog at once.
                self.forks[i].state = ForkState::Done;
                self.send_bye(Side::B(i));
                return;
            }
            let answer = match AudioSession::parse(&resp.body) {
                Ok(a) if self.forks[i].screen.is_some() => {
                    return self.start_screening(now, i, a);
                }
                Ok(a) => a,
                Err(_) if self.forks[i].screen.is_some() => {
                    self.forks[i].state = ForkState::Done;
                    self.send_bye(Side::B(i));
                    return self.fork_failed(now, StatusCode::NOT_ACCEPTABLE_HERE);
                }
                Err(_) => {
                    self.forks[i].state = ForkState::Done;
                    self.send_bye(Side::B(i));
                    self.cancel_forks(None);
                    self.respond_a(StatusCode::NOT_ACCEPTABLE_HERE, None);
                    self.finish(
                        StatusCode::NOT_ACCEPTABLE_HERE,
                        "callee answered without usable SDP",
                    );
                    return;
                }
            };
            return self.take_answer(i, answer);
        }
        if matches!(status.as_u16(), 401 | 407) && self.answer_challenge(i, resp) {
            return;
        }
        // Final failure on this fork.
        self.forks[i].state = ForkState::Done;
        self.fork_failed_with(now, status, true);
    }

    /// Fork `i` answered with `answer`: the caller is answered and bridged to it, the other forks
    /// are cancelled.
    fn take_answer(&mut self, i: usize, answer: AudioSession) {
        self.forks[i].state = ForkState::Answered;
        self.answered = Some(i);
        self.state = State::Answered;
        self.no_answer_at = None;
        self.cancel_forks(Some(i));
        self.a_sdp.formats = answer.formats.clone();
        self.a_sdp.direction = answer.direction;
        self.forks[i].remote = Some(answer);
        let body = self.a_sdp.render();
        self.respond_a(StatusCode::OK, Some(body));
        self.push_media();
        self.out.push_back(Output::Event(CallEvent::Answered));
    }

    /// A Follow-Me leg answered: Parley plays it the screening prompt and waits for its key;
    /// the caller goes on hearing it ring. Only one leg is screened at a time: another that
    /// answers meanwhile is hung up on (a failure of that leg).
    fn start_screening(&mut self, now: Instant, i: usize, answer: AudioSession) {
        let Some(spec) = self.forks[i].screen.clone() else {
            return;
        };
        if self.screening().is_some() {
            self.forks[i].state = ForkState::Done;
            self.send_bye(Side::B(i));
            return self.fork_failed(now, StatusCode::BUSY_HERE);
        }
        self.screen_keys.clear();
        self.screen_wrong = 0;
        self.screen_checking = false;
        self.screen_generation += 1;
        self.out
            .push_back(self.screening_of(i, &answer, spec.audio));
        self.forks[i].remote = Some(answer);
        self.forks[i].state = ForkState::Screening(now + spec.wait);
    }

    /// The screened leg is gone or accepted: the media end stops, and a PIN being typed or checked
    /// is forgotten (a check's late answer finds no screening of its generation).
    fn end_screening(&mut self) {
        self.out.push_back(Output::ScreenEnd);
        self.screen_keys.clear();
        self.screen_checking = false;
        self.screen_generation += 1;
    }

    /// A fork failed with `status` (it is already Done): the next trunk, the next connection
    /// attempt, or, when nothing is left, the caller's failure (or voicemail).
    fn fork_failed(&mut self, now: Instant, status: StatusCode) {
        self.fork_failed_with(now, status, false)
    }

    fn fork_failed_with(&mut self, now: Instant, status: StatusCode, failover: bool) {
        let way_failed = status == StatusCode::REQUEST_TIMEOUT
            || status.as_u16() >= 500 && status.as_u16() < 600;
        if self.state == State::Ringing
            && failover
            && way_failed
            && self.forks.iter().all(|f| f.state == ForkState::Done)
        {
            if let Some(next) = self.alternates.pop_front() {
                self.fork_failures.push(status);
                self.start_fork(next);
                return;
            }
        }
        if self.state == State::Ringing
            && self.forks.iter().all(|f| f.state == ForkState::Done)
            && self.next_attempt(now)
        {
            self.fork_failures.push(status);
            return;
        }
        if self.state == State::Ringing && self.forks.iter().all(|f| f.state == ForkState::Done) {
            let best = self.best_failure(status);
            self.fail_a(best, "callee refused");
        } else if self.forks.iter().all(|f| f.state == ForkState::Done) {
            self.give_up_at = Some(now);
        }
        self.fork_failures.push(status);
    }

    /// A carrier challenged an outside leg's INVITE: send it again with the answer (the same dialog,
    /// the next CSeq, a new branch), once per challenge and at most [`MAX_LEG_CHALLENGES`] times.
    /// False when the leg cannot answer (a phone's leg, no credentials, no usable challenge, or
    /// answered too often): the challenge is then the leg's failure.
    fn answer_challenge(&mut self, i: usize, resp: &Response) -> bool {
        let (header, answer_name) = if resp.status.as_u16() == 407 {
            ("Proxy-Authenticate", "Proxy-Authorization")
        } else {
            ("WWW-Authenticate", "Authorization")
        };
        if self.state != State::Ringing || self.forks[i].cancel_wanted {
            return false;
        }
        let fork = &mut self.forks[i];
        let Some((user, secret)) = fork.auth.as_ref() else {
            return false;
        };
        if fork.challenges >= MAX_LEG_CHALLENGES {
            return false;
        }
        let Some(challenge) = Challenge::choose(resp.headers.get_all(header)) else {
            return false;
        };
        fork.challenges += 1;
        let cnonce = format!("{:016x}", self.ids.next_u64());
        let uri = fork.invite.uri.to_string();
        let value = challenge.answer(user, secret, "INVITE", &uri, 1, &cnonce);
        fork.dialog.local_cseq += 1;
        let mut invite = fork.invite.clone();
        invite.headers.set(
            "Via",
            &self
                .config
                .local
                .via(fork.dialog.transport, &self.ids.branch()),
        );
        invite
            .headers
            .set("CSeq", &format!("{} INVITE", fork.dialog.local_cseq));
        // A proxy's 407 and the far end's 401 are answered side by side; a new challenge of the
        // same kind replaces the answer to the old one.
        invite.headers.remove(answer_name);
        invite.headers.push(answer_name, &value);
        fork.invite = invite.clone();
        fork.state = ForkState::Calling;
        self.out.push_back(Output::Request {
            side: Side::B(i),
            request: invite,
            target: fork.target,
        });
        true
    }

    fn reinvite_response(&mut self, side: Side, cseq: u32, resp: &Response) {
        let Some(p) = self.pending.as_ref() else {
            return;
        };
        if p.invite_cseq != cseq || resp.status < 200 {
            return;
        }
        let Some(p) = self.pending.take() else { return };
        if resp.status.is_failure() {
            self.respond_tx(p.tx, &p.request, p.from, resp.status, None);
            return;
        }
        match side {
            Side::A => {
                let ack =
                    build::ack_2xx(&self.a_dialog, cseq, &self.config.local, &self.ids.branch());
                self.out.push_back(Output::Ack {
                    request: ack,
                    target: self.a_target,
                });
            }
            Side::B(i) => self.ack_fork(i, cseq),
        }
        let Ok(answer) = AudioSession::parse(&resp.body) else {
            self.respond_tx(
                p.tx,
                &p.request,
                p.from,
                StatusCode::NOT_ACCEPTABLE_HERE,
                None,
            );
            return;
        };
        match side {
            Side::A => self.a_offer = answer.clone(),
            Side::B(i) => self.forks[i].remote = Some(answer.clone()),
        }
        let sdp = match p.from {
            Side::A => &mut self.a_sdp,
            Side::B(_) => &mut self.b_sdp,
        };
        sdp.version += 1;
        sdp.formats = answer.formats.clone();
        sdp.direction = answer.direction;
        let body = sdp.render();
        self.respond_tx(p.tx, &p.request, p.from, StatusCode::OK, Some(body));
        self.push_media();
    }

    fn push_media(&mut self) {
        let port_ok = |s: &AudioSession| {
            (s.addr.port() != 0 && !s.addr.ip().is_unspecified()).then_some(s.addr)
        };
        let b_remote = self
            .answered
            .and_then(|i| self.forks[i].remote.as_ref())
            .and_then(port_ok);
        self.out.push_back(Output::Media(MediaUpdate {
            a_remote: port_ok(&self.a_offer),
            b_remote,
            a_signalling: Some(self.a_target.addr.ip()),
            b_signalling: self.answered.map(|i| self.forks[i].target.addr.ip()),
        }));
    }

    /// What the caller hears when every fork refused: busy if any was busy, declined if one
    /// declined, else unavailable.
    fn best_failure(&self, last: StatusCode) -> StatusCode {
        let mut all = self.fork_failures.iter().copied().chain([last]);
        if all.clone().any(|s| s.is_busy() && s != StatusCode::DECLINE) {
            StatusCode::BUSY_HERE
        } else if all.clone().any(|s| s == StatusCode::DECLINE) {
            StatusCode::DECLINE
        } else if all.any(|s| matches!(s.as_u16(), 401 | 407)) {
            // A carrier that refused Parley's credentials: the outside line is out of service (its
            // challenge is never passed to the caller, who has no business answering it).
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::TEMPORARILY_UNAVAILABLE
        }
    }

    fn learn_fork_dialog(&mut self, i: usize, resp: &Response) {
        let f = &mut self.forks[i];
        if let Some(to) = resp.headers.get("To") {
            f.dialog.remote = to.to_string();
        }
        if let Some(c) = resp.headers.get("Contact").and_then(NameAddr::parse) {
            f.dialog.remote_target = c.uri;
        }
        let mut rr: Vec<String> = resp
            .headers
            .get_all("Record-Route")
            .iter()
            .map(|s| s.to_string())
            .collect();
        rr.reverse();
        f.dialog.route = rr;
    }

    fn ack_fork(&mut self, i: usize, cseq: u32) {
        let branch = self.ids.branch();
        let f = &self.forks[i];
        let ack = build::ack_2xx(&f.dialog, cseq, &self.config.local, &branch);
        self.out.push_back(Output::Ack {
            request: ack,
            target: f.target,
        });
    }

    /// Start the next connection attempt, if there is one: the legs of this one that the next does
    /// not ring are cancelled, those it rings too go on ringing, the rest start; its time starts
    /// now. An attempt that leaves nothing ringing (every phone of it gone) gives way to the next.
    fn next_attempt(&mut self, now: Instant) -> bool {
        while let Some(mut next) = self.attempts.pop_front() {
            let live = |f: &Fork| f.state != ForkState::Done && !f.cancel_wanted;
            for i in 0..self.forks.len() {
                if !live(&self.forks[i]) {
                    continue;
                }
                let (uri, target) = (&self.forks[i].invite.uri, self.forks[i].target);
                match next
                    .forks
                    .iter()
                    .position(|f| f.uri == *uri && f.target == target)
                {
                    Some(k) => {
                        next.forks.remove(k);
                    }
                    None => self.cancel_fork(i),
                }
            }
            for fork in next.forks {
                self.start_fork(fork);
            }
            self.no_answer_at = Some(now + next.ring_for);
            if self.forks.iter().any(live) {
                return true;
            }
        }
        false
    }

    fn cancel_fork(&mut self, i: usize) {
        if self.forks[i].state == ForkState::Done || self.forks[i].cancel_wanted {
            return;
        }
        if matches!(self.forks[i].state, ForkState::Screening(_)) {
            // Still deciding: the next attempt does not cut them off.
            return;
        }
        self.forks[i].cancel_wanted = true;
        if self.forks[i].state == ForkState::Proceeding {
            self.send_cancel(i);
        }
    }

    fn cancel_forks(&mut self, except: Option<usize>) {
        for i in 0..self.forks.len() {
            if Some(i) == except
                || self.forks[i].state == ForkState::Done
                || self.forks[i].cancel_wanted
            {
                continue;
            }
            if matches!(self.forks[i].state, ForkState::Screening(_)) {
                // Answered, not yet accepted: hung up on.
                self.end_screening();
                self.forks[i].state = ForkState::Done;
                self.send_bye(Side::B(i));
                continue;
            }
            self.forks[i].cancel_wanted = true;
            if self.forks[i].state == ForkState::Proceeding {
                self.send_cancel(i);
            }
        }
    }

    fn send_cancel(&mut self, i: usize) {
        let f = &mut self.forks[i];
        f.state = ForkState::Done;
        let cancel = build::cancel_for(&f.invite);
        self.out.push_back(Output::Request {
            side: Side::B(i),
            request: cancel,
            target: f.target,
        });
    }

    fn send_bye(&mut self, side: Side) {
        let branch = self.ids.branch();
        let (dialog, target, user) = match side {
            Side::A => (&mut self.a_dialog, self.a_target, &self.callee),
            Side::B(i) => {
                let f = &mut self.forks[i];
                (&mut f.dialog, f.target, &self.caller)
            }
        };
        let bye = build::in_dialog(dialog, Method::Bye, &self.config.local, user, &branch, None);
        self.out.push_back(Output::Request {
            side,
            request: bye,
            target,
        });
    }

    fn respond_a(&mut self, status: StatusCode, body: Option<Vec<u8>>) {
        if self.a_final_sent {
            return;
        }
        if status >= 200 {
            self.a_final_sent = true;
        }
        let invite = self.a_invite.clone();
        self.respond_tx(self.a_tx, &invite, Side::A, status, body);
    }

    fn respond_tx(
        &mut self,
        tx: TxId,
        req: &Request,
        side: Side,
        status: StatusCode,
        body: Option<Vec<u8>>,
    ) {
        let tag = match side {
            Side::A => crate::sip::header::param(&self.a_dialog.local, "tag")
                .unwrap_or_default()
                .to_string(),
            Side::B(i) => crate::sip::header::param(&self.forks[i].dialog.local, "tag")
                .unwrap_or_default()
                .to_string(),
        };
        let mut response = Response::to_request(req, status, Some(&tag));
        if status > 100 && !status.is_failure() {
            let (user, transport) = match side {
                Side::A => (self.callee.clone(), self.a_target.transport),
                Side::B(i) => (self.caller.clone(), self.forks[i].target.transport),
            };
            response
                .headers
                .push("Contact", &self.config.local.contact(&user, transport));
        }
        if let Some(b) = body {
            response.headers.push("Content-Type", "application/sdp");
            response.body = b;
        }
        self.out.push_back(Output::Respond { tx, response });
    }

    fn reply(&mut self, tx: TxId, req: &Request, status: StatusCode) {
        let response = Response::to_request(req, status, None);
        self.out.push_back(Output::Respond { tx, response });
    }

    /// The callee did not take the call: divert it to voicemail, or give the caller `status`.
    fn fail_a(&mut self, status: StatusCode, reason: &'static str) {
        if self.divert {
            // The caller's transaction stays open for the shell to answer.
            self.a_final_sent = true;
            let busy = status.is_busy();
            self.out
                .push_back(Output::Event(CallEvent::Unanswered { busy }));
            self.finish(status, "diverted to voicemail");
        } else {
            self.respond_a(status, None);
            self.finish(status, reason);
        }
    }

    fn finish(&mut self, status: StatusCode, reason: &'static str) {
        if self.state != State::Ended {
            self.state = State::Ended;
            self.no_answer_at = None;
            self.out
                .push_back(Output::Event(CallEvent::Ended { status, reason }));
        }
    }
}

#[cfg(test)]
mod tests;
