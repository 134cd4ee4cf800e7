//! Parley itself as the far end of a call (voicemail, the mailbox menu): the UAS side of one dialog that
//! answers with Parley's own media address. Owns the answer SDP (one G.711 codec plus telephone-event),
//! BYE from the caller, re-INVITEs (hold, address change), SIP INFO DTMF, and hanging up with BYE.
//! Never does IO; outputs are the B2BUA's [`Output`]s with [`Side::A`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use crate::call::{build, CallConfig, CallEvent, Dialog, MediaUpdate, Output, Side, TxId};
use crate::ids::Ids;
use crate::sdp::{AudioSession, Direction, Format, LocalSdp, SdpError};
use crate::sip::StatusCode;
use crate::sip::{Method, Request, Response};
use crate::target::Target;

/// A caller's INVITE that Parley answers itself.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    /// The INVITE.
    pub invite: Request,
    /// Its server transaction.
    pub tx: TxId,
    /// Where it came from.
    pub source: Target,
    /// The To tag already sent in a provisional response (a call diverted after ringing), if any.
    pub local_tag: Option<String>,
    /// The user part of Parley's Contact (the number that was called).
    pub user: String,
    /// Parley's RTP port for this call.
    pub media_port: u16,
    /// Seed for tags and branches.
    pub seed: u64,
}

/// The media agreed with the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Audio payload type (0 PCMU or 8 PCMA).
    pub audio_pt: u8,
    /// Telephone-event payload type, if the caller offered it.
    pub event_pt: Option<u8>,
    /// Where the caller receives RTP (None while on hold without address).
    pub remote: Option<SocketAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Answered,
    Ended,
}

/// One dialog answered by Parley. See the module documentation.
#[derive(Debug)]
pub struct Endpoint {
    config: CallConfig,
    ids: Ids,
    state: State,
    user: String,
    dialog: Dialog,
    target: Target,
    sdp: LocalSdp,
    negotiated: Negotiated,
    out: VecDeque<Output>,
}

fn usable(addr: SocketAddr) -> Option<SocketAddr> {
    (addr.port() != 0 && !addr.ip().is_unspecified()).then_some(addr)
}

impl Endpoint {
    /// Answer `new.invite` at once with 200 and Parley's SDP, or refuse it (488 without a usable offer;
    /// the endpoint is then already ended).
    pub fn answer(_now: Instant, config: CallConfig, new: NewEndpoint) -> Endpoint {
        let mut ids = Ids::new(new.seed);
        let tag = new.local_tag.clone().unwrap_or_else(|| ids.tag());
        let inv = &new.invite;
        let dialog = Dialog::answering(inv, &tag, new.source.transport);
        let session_id = ids.next_u64() >> 16;
        let mut ep = Endpoint {
            sdp: LocalSdp {
                session_id,
                version: 1,
                addr: SocketAddr::new(config.media_ip, new.media_port),
                formats: Vec::new(),
                direction: Direction::SendRecv,
                ptime: Some(20),
            },
            negotiated: Negotiated {
                audio_pt: 0,
                event_pt: None,
                remote: None,
            },
            config,
            ids,
            state: State::Answered,
            user: new.user.clone(),
            dialog,
            target: new.source,
            out: VecDeque::new(),
        };
        match AudioSession::parse(&inv.body) {
            Ok(offer) => {
                ep.negotiate(&offer);
                let body = ep.sdp.render();
                ep.respond(new.tx, &new.invite, StatusCode::OK, Some(body), &tag);
                ep.push_media();
                ep.out.push_back(Output::Event(CallEvent::Answered));
            }
            Err(e) => {
                let status = match e {
                    SdpError::Malformed(_) if !inv.body.is_empty() => StatusCode::BAD_REQUEST,
                    _ => StatusCode::NOT_ACCEPTABLE_HERE,
                };
                ep.respond(new.tx, &new.invite, status, None, &tag);
                ep.finish(status, "no usable SDP offer");
            }
        }
        ep
    }

    /// Pick the caller's first G.711 format and telephone-event (if offered) for our answer.
    fn negotiate(&mut self, offer: &AudioSession) {
        let audio = offer.audio_format().cloned().unwrap_or_else(|| Format {
            pt: 0,
            name: "PCMU".into(),
            fmtp: None,
        });
        let event = offer.event_format().cloned();
        self.negotiated = Negotiated {
            audio_pt: audio.pt,
            event_pt: event.as_ref().map(|e| e.pt),
            remote: usable(offer.addr),
        };
        if offer.direction == Direction::Inactive || offer.direction == Direction::SendOnly {
            // On hold: answer accordingly and stop sending.
            self.negotiated.remote = None;
        }
        self.sdp.direction = match offer.direction {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        };
        self.sdp.formats = std::iter::once(audio).chain(event).collect();
    }

    /// The media agreed with the caller.
    pub fn negotiated(&self) -> &Negotiated {
        &self.negotiated
    }

    /// The caller's Call-ID.
    pub fn call_id(&self) -> &str {
        &self.dialog.call_id
    }

    /// Whether the dialog is over.
    pub fn is_ended(&self) -> bool {
        self.state == State::Ended
    }

    /// The next action for the shell.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Whether an in-dialog request from `source` belongs to this dialog and comes from its party (see
    /// [`Call::accepts`](crate::call::Call::accepts)).
    pub fn accepts(&self, req: &Request, source: std::net::IpAddr) -> bool {
        use crate::target::canonical_ip;
        build::belongs_to(&self.dialog, req)
            && canonical_ip(self.target.addr.ip()) == canonical_ip(source)
    }

    /// A request within the dialog.
    pub fn handle_request(&mut self, _now: Instant, tx: TxId, req: &Request) {
        match req.method {
            Method::Ack | Method::Cancel => {}
            Method::Bye => {
                self.reply(tx, req, StatusCode::OK, None);
                self.finish(StatusCode::OK, "caller hung up");
            }
            Method::Invite if self.state == State::Answered => {
                match AudioSession::parse(&req.body) {
                    Ok(offer) => {
                        self.negotiate(&offer);
                        self.sdp.version += 1;
                        let body = self.sdp.render();
                        self.reply(tx, req, StatusCode::OK, Some(body));
                        self.push_media();
                    }
                    Err(_) if req.body.is_empty() => {
                        // Offerless re-INVITE: offer our current session again.
                        let body = self.sdp.render();
                        self.reply(tx, req, StatusCode::OK, Some(body));
                    }
                    Err(SdpError::NoCommonCodec) => {
                        self.reply(tx, req, StatusCode::NOT_ACCEPTABLE_HERE, None)
                    }
                    Err(_) => self.reply(tx, req, StatusCode::BAD_REQUEST, None),
                }
            }
            Method::Info => {
                self.reply(tx, req, StatusCode::OK, None);
                if let Some(d) = info_digit(req) {
                    self.out.push_back(Output::Event(CallEvent::Dtmf(d)));
                }
            }
            // Progress of a transfer we asked for (REFER): acknowledged, nothing else to do.
            Method::Options | Method::Notify => self.reply(tx, req, StatusCode::OK, None),
            Method::Invite => self.reply(tx, req, StatusCode::CALL_DOES_NOT_EXIST, None),
            _ => self.reply(tx, req, StatusCode::NOT_IMPLEMENTED, None),
        }
    }

    /// Ask the caller's phone to call `target` instead (blind transfer, RFC 3515 REFER); the response
    /// comes back to the shell, which hangs up on success.
    pub fn refer(&mut self, _now: Instant, target: &str) {
        if self.state == State::Ended {
            return;
        }
        let branch = self.ids.branch();
        let mut refer = build::in_dialog(
            &mut self.dialog,
            Method::Refer,
            &self.config.local,
            &self.user,
            &branch,
            None,
        );
        let host = &self.config.local;
        refer
            .headers
            .push("Contact", &host.contact(&self.user, self.target.transport));
        refer.headers.push(
            "Refer-To",
            &format!("<sip:{target}@{}:{}>", host.host, host.port),
        );
        refer
            .headers
            .push("Referred-By", &format!("<sip:{}@{}>", self.user, host.host));
        self.out.push_back(Output::Request {
            side: Side::A,
            request: refer,
            target: self.target,
        });
    }

    /// End the call from Parley's side with BYE.
    pub fn hangup(&mut self, _now: Instant) {
        if self.state == State::Ended {
            return;
        }
        let branch = self.ids.branch();
        let bye = build::in_dialog(
            &mut self.dialog,
            Method::Bye,
            &self.config.local,
            &self.user,
            &branch,
            None,
        );
        self.out.push_back(Output::Request {
            side: Side::A,
            request: bye,
            target: self.target,
        });
        self.finish(StatusCode::OK, "ended by Parley");
    }

    fn push_media(&mut self) {
        self.out.push_back(Output::Media(MediaUpdate {
            a_remote: self.negotiated.remote,
            b_remote: None,
            a_signalling: Some(self.target.addr.ip()),
            b_signalling: None,
        }));
    }

    fn respond(
        &mut self,
        tx: TxId,
        req: &Request,
        status: StatusCode,
        body: Option<Vec<u8>>,
        tag: &str,
    ) {
        let mut response = Response::to_request(req, status, Some(tag));
        if status > 100 && !status.is_failure() {
            response.headers.push(
                "Contact",
                &self.config.local.contact(&self.user, self.target.transport),
            );
        }
        if let Some(b) = body {
            response.headers.push("Content-Type", "application/sdp");
            response.body = b;
        }
        self.out.push_back(Output::Respond { tx, response });
    }

    fn reply(&mut self, tx: TxId, req: &Request, status: StatusCode, body: Option<Vec<u8>>) {
        let tag = crate::sip::header::param(&self.dialog.local, "tag")
            .unwrap_or_default()
            .to_string();
        self.respond(tx, req, status, body, &tag);
    }

    fn finish(&mut self, status: StatusCode, reason: &'static str) {
        if self.state != State::Ended {
            self.state = State::Ended;
            self.out
                .push_back(Output::Event(CallEvent::Ended { status, reason }));
        }
    }
}

/// The digit of a SIP INFO carrying `application/dtmf-relay` (`Signal=5`) or `application/dtmf` (`5`).
fn info_digit(req: &Request) -> Option<char> {
    let ct = req.headers.get("Content-Type").unwrap_or_default();
    let body = std::str::from_utf8(&req.body).ok()?;
    let raw = if ct.eq_ignore_ascii_case("application/dtmf-relay") {
        body.lines()
            .find_map(|l| {
                let (k, v) = l.split_once('=')?;
                k.trim().eq_ignore_ascii_case("signal").then(|| v.trim())
            })?
            .to_string()
    } else if ct.eq_ignore_ascii_case("application/dtmf") {
        body.trim().to_string()
    } else {
        return None;
    };
    let mut chars = raw.chars();
    let c = chars.next()?;
    (chars.next().is_none() && matches!(c, '0'..='9' | '*' | '#' | 'A'..='D')).then_some(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::LocalAddr;
    use crate::target::Transport;
    use std::time::Duration;

    fn invite(sdp: &str) -> Request {
        let text = format!(
            "INVITE sip:101@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n\
             From: <sip:100@127.0.0.1>;tag=a1\r\nTo: <sip:101@127.0.0.1>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:100@127.0.0.1:5070>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
        match crate::sip::Message::parse(text.as_bytes()).unwrap() {
            crate::sip::Message::Request(r) => r,
            _ => unreachable!(),
        }
    }

    fn config() -> CallConfig {
        CallConfig {
            local: LocalAddr {
                host: "127.0.0.1".into(),
                port: 5060,
            },
            media_ip: "127.0.0.1".parse().unwrap(),
            no_answer: Duration::from_secs(20),
        }
    }

    fn new(sdp: &str) -> NewEndpoint {
        NewEndpoint {
            invite: invite(sdp),
            tx: TxId(1),
            source: Target {
                addr: "127.0.0.1:5070".parse().unwrap(),
                transport: Transport::Udp,
            },
            local_tag: Some("t9".into()),
            user: "101".into(),
            media_port: 30000,
            seed: 7,
        }
    }

    const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
        m=audio 6000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";

    #[test]
    fn answers_with_the_callers_first_codec_and_telephone_event_keeping_the_ringing_tag() {
        let mut ep = Endpoint::answer(crate::test_epoch(), config(), new(OFFER));
        let Some(Output::Respond { response, .. }) = ep.poll_output() else {
            panic!("no answer")
        };
        assert_eq!(response.status, 200);
        assert!(response.headers.get("To").unwrap().contains("tag=t9"));
        let body = String::from_utf8(response.body).unwrap();
        assert!(body.contains("m=audio 30000 RTP/AVP 8 101"), "{body}");
        assert_eq!(
            ep.negotiated(),
            &Negotiated {
                audio_pt: 8,
                event_pt: Some(101),
                remote: Some("127.0.0.1:6000".parse().unwrap())
            }
        );
    }

    #[test]
    fn bye_ends_and_hangup_sends_bye() {
        let mut ep = Endpoint::answer(crate::test_epoch(), config(), new(OFFER));
        while ep.poll_output().is_some() {}
        ep.hangup(crate::test_epoch());
        let Some(Output::Request { request, .. }) = ep.poll_output() else {
            panic!("no BYE")
        };
        assert_eq!(request.method, Method::Bye);
        assert!(request.headers.get("From").unwrap().contains("tag=t9"));
        assert!(ep.is_ended());
    }

    #[test]
    fn an_invite_without_usable_sdp_is_refused() {
        let mut ep = Endpoint::answer(crate::test_epoch(), config(), new(""));
        let Some(Output::Respond { response, .. }) = ep.poll_output() else {
            panic!()
        };
        assert_eq!(response.status, 488);
        assert!(ep.is_ended());
    }

    #[test]
    fn refer_names_the_target_on_parley() {
        let mut ep = Endpoint::answer(crate::test_epoch(), config(), new(OFFER));
        while ep.poll_output().is_some() {}
        ep.refer(crate::test_epoch(), "100");
        let Some(Output::Request { request, .. }) = ep.poll_output() else {
            panic!("no REFER")
        };
        assert_eq!(request.method, Method::Refer);
        assert_eq!(
            request.headers.get("Refer-To"),
            Some("<sip:100@127.0.0.1:5060>")
        );
        assert!(!ep.is_ended());
    }

    #[test]
    fn info_dtmf_is_reported() {
        let mut ep = Endpoint::answer(crate::test_epoch(), config(), new(OFFER));
        while ep.poll_output().is_some() {}
        let text = "INFO sip:101@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK2\r\n\
             From: <sip:100@127.0.0.1>;tag=a1\r\nTo: <sip:101@127.0.0.1>;tag=t9\r\nCall-ID: c1\r\nCSeq: 2 INFO\r\n\
             Content-Type: application/dtmf-relay\r\nContent-Length: 24\r\n\r\nSignal=5\r\nDuration=160\r\n";
        let crate::sip::Message::Request(req) =
            crate::sip::Message::parse(text.as_bytes()).unwrap()
        else {
            panic!()
        };
        ep.handle_request(crate::test_epoch(), TxId(2), &req);
        let outs: Vec<Output> = std::iter::from_fn(|| ep.poll_output()).collect();
        assert!(outs.contains(&Output::Event(CallEvent::Dtmf('5'))));
    }
}
