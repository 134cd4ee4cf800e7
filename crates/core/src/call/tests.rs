//! Whole calls stepped with a fake clock: forking, answer, cancel, no answer, busy, hold and hang-up.

use super::*;
use crate::sip::Message;
use crate::target::Transport;

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";
const ANSWER: &str = "v=0\r\no=- 2 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=audio 5000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";

fn invite() -> Request {
    let text = format!(
        "INVITE sip:101@pbx SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKa\r\nFrom: <sip:100@pbx>;tag=ta\r\nTo: <sip:101@pbx>\r\nCall-ID: a-call\r\nCSeq: 1 INVITE\r\nContact: <sip:100@10.0.0.1:5070>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{OFFER}",
        OFFER.len()
    );
    match Message::parse(text.as_bytes()).unwrap() {
        Message::Request(r) => r,
        _ => unreachable!(),
    }
}

fn target(port: u16) -> Target {
    Target {
        transport: Transport::Udp,
        addr: SocketAddr::from(([10, 0, 0, 2], port)),
    }
}

fn start(forks: usize) -> (Call, Instant) {
    start_with(forks, false)
}

fn start_with(forks: usize, divert: bool) -> (Call, Instant) {
    let now = crate::test_epoch();
    let config = CallConfig {
        local: LocalAddr {
            host: "192.0.2.1".into(),
            port: 5060,
        },
        media_ip: "192.0.2.1".parse().unwrap(),
        no_answer: Duration::from_secs(30),
    };
    let forks = (0..forks)
        .map(|i| ForkTarget {
            uri: SipUri::parse(&format!("sip:101@10.0.0.2:{}", 6000 + i)).unwrap(),
            target: target(6000 + i as u16),
            outward: None,
            owner: "101".into(),
        })
        .collect();
    let call = Call::new(
        now,
        config,
        NewCall {
            invite: invite(),
            tx: TxId(1),
            source: Target {
                transport: Transport::Udp,
                addr: "10.0.0.1:5070".parse().unwrap(),
            },
            caller: "100".into(),
            caller_name: Some("Alice".into()),
            callee: "101".into(),
            forks,
            a_media_port: 30000,
            b_media_port: 30002,
            seed: 7,
            divert,
            ring_for: None,
            alternates: Vec::new(),
            next_attempts: Vec::new(),
            a_tag: None,
        },
    );
    (call, now)
}

fn drain(call: &mut Call) -> Vec<Output> {
    std::iter::from_fn(|| call.poll_output()).collect()
}

fn responses_to_a(out: &[Output]) -> Vec<u16> {
    out.iter()
        .filter_map(|o| match o {
            Output::Respond {
                tx: TxId(1),
                response,
            } => Some(response.status.as_u16()),
            _ => None,
        })
        .collect()
}

fn requests(out: &[Output]) -> Vec<(Side, Request)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Request { side, request, .. } => Some((*side, request.clone())),
            _ => None,
        })
        .collect()
}

fn reply_to(req: &Request, status: u16, tag: &str, body: &str) -> Response {
    let mut r = Response::to_request(req, StatusCode::new(status).unwrap(), Some(tag));
    r.headers.push("Contact", "<sip:101@10.0.0.2:6000>");
    r.body = body.as_bytes().to_vec();
    r
}

#[test]
fn answered_fork_wins_and_the_other_fork_is_cancelled() {
    let (mut call, now) = start(2);
    let out = drain(&mut call);
    assert_eq!(responses_to_a(&out), vec![100]);
    let invites = requests(&out);
    assert_eq!(invites.len(), 2);
    let body = String::from_utf8(invites[0].1.body.clone()).unwrap();
    assert!(
        body.contains("c=IN IP4 192.0.2.1") && body.contains("m=audio 30002"),
        "{body}"
    );
    for (side, inv) in &invites {
        call.handle_response(now, *side, &reply_to(inv, 180, "b", ""));
    }
    assert_eq!(responses_to_a(&drain(&mut call)), vec![180]);
    call.handle_response(now, Side::B(0), &reply_to(&invites[0].1, 200, "b0", ANSWER));
    let out = drain(&mut call);
    assert_eq!(responses_to_a(&out), vec![200]);
    let a200 = out.iter().find_map(|o| match o {
        Output::Respond {
            tx: TxId(1),
            response,
        } if response.status == 200 => Some(response.clone()),
        _ => None,
    });
    let a_sdp = String::from_utf8(a200.unwrap().body).unwrap();
    assert!(a_sdp.contains("m=audio 30000 RTP/AVP 8 101"), "{a_sdp}");
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Ack { target, .. } if target.addr.port() == 6000)));
    let cancels: Vec<_> = requests(&out)
        .into_iter()
        .filter(|(_, r)| r.method == Method::Cancel)
        .collect();
    assert_eq!(cancels.len(), 1);
    assert_eq!(cancels[0].0, Side::B(1));
    assert!(out.contains(&Output::Media(MediaUpdate {
        a_remote: Some("10.0.0.1:4000".parse().unwrap()),
        b_remote: Some("10.0.0.2:5000".parse().unwrap()),
        a_signalling: Some("10.0.0.1".parse().unwrap()),
        b_signalling: Some("10.0.0.2".parse().unwrap()),
    })));
    assert!(call.is_answered());
}

#[test]
fn caller_cancel_before_answer_gives_487_and_cancels_ringing_forks() {
    let (mut call, now) = start(1);
    let invites = requests(&drain(&mut call));
    call.handle_response(now, Side::B(0), &reply_to(&invites[0].1, 180, "b", ""));
    drain(&mut call);
    let mut cancel = invite();
    cancel.method = Method::Cancel;
    call.handle_request(now, Side::A, TxId(1), &cancel);
    let out = drain(&mut call);
    assert_eq!(responses_to_a(&out), vec![487]);
    assert_eq!(requests(&out)[0].1.method, Method::Cancel);
    call.handle_response(now, Side::B(0), &reply_to(&invites[0].1, 487, "b", ""));
    assert!(call.is_ended());
}

#[test]
fn cancel_waits_for_a_provisional_response_before_it_is_sent() {
    let (mut call, now) = start(1);
    let invites = requests(&drain(&mut call));
    let mut cancel = invite();
    cancel.method = Method::Cancel;
    call.handle_request(now, Side::A, TxId(1), &cancel);
    assert!(requests(&drain(&mut call)).is_empty());
    call.handle_response(now, Side::B(0), &reply_to(&invites[0].1, 180, "b", ""));
    assert_eq!(requests(&drain(&mut call))[0].1.method, Method::Cancel);
}

#[test]
fn no_answer_timeout_gives_480_and_cancels() {
    let (mut call, now) = start(1);
    let invites = requests(&drain(&mut call));
    call.handle_response(now, Side::B(0), &reply_to(&invites[0].1, 180, "b", ""));
    drain(&mut call);
    let (at, why) = call.poll_timeout().unwrap();
    assert_eq!((at - now, why), (Duration::from_secs(30), "no answer"));
    call.handle_timeout(at);
    let out = drain(&mut call);
    assert_eq!(responses_to_a(&out), vec![480]);
    assert_eq!(requests(&out)[0].1.method, Method::Cancel);
}

#[test]
fn busy_callee_gives_486_to_the_caller() {
    let (mut call, now) = start(2);
    let invites = requests(&drain(&mut call));
    call.handle_response(now, Side::B(0), &reply_to(&invites[0].1, 486, "b", ""));
    assert!(responses_to_a(&drain(&mut call)).is_empty());
    call.handle_response(now, Side::B(1), &reply_to(&invites[1].1, 408, "c", ""));
    assert_eq!(responses_to_a(&drain(&mut call)), vec![486]);
    assert!(call.is_ended());
}

#[test]
fn no_contacts_gives_480_and_bad_sdp_gives_4xx() {
    let (call, _) = start(0);
    let mut call = call;
    assert_eq!(responses_to_a(&drain(&mut call)), vec![480]);
    assert!(call.is_ended());
}

fn answered() -> (Call, Instant, Request) {
    let (mut call, now) = start(1);
    let invites = requests(&drain(&mut call));
    call.handle_response(now, Side::B(0), &reply_to(&invites[0].1, 200, "b0", ANSWER));
    drain(&mut call);
    (call, now, invites[0].1.clone())
}

#[test]
fn bye_from_either_side_is_answered_and_passed_across() {
    let (mut call, now, _) = answered();
    let bye = Request {
        method: Method::Bye,
        ..invite()
    };
    call.handle_request(now, Side::A, TxId(9), &bye);
    let out = drain(&mut call);
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Respond { tx: TxId(9), response } if response.status == 200)));
    let reqs = requests(&out);
    assert_eq!(
        (reqs[0].0, reqs[0].1.method.clone()),
        (Side::B(0), Method::Bye)
    );
    assert!(reqs[0].1.headers.get("To").unwrap().contains("tag=b0"));
    assert!(call.is_ended());

    let (mut call, now, _) = answered();
    call.handle_request(now, Side::B(0), TxId(9), &bye);
    let reqs = requests(&drain(&mut call));
    assert_eq!(
        (reqs[0].0, reqs[0].1.method.clone()),
        (Side::A, Method::Bye)
    );
    assert_eq!(reqs[0].1.uri.to_string(), "sip:100@10.0.0.1:5070");
    assert!(reqs[0].1.headers.get("To").unwrap().contains("tag=ta"));
}

#[test]
fn hold_reinvite_is_passed_across_with_relay_addresses() {
    let (mut call, now, _) = answered();
    let mut hold = invite();
    hold.headers.set("CSeq", "2 INVITE");
    hold.body = format!("{OFFER}a=sendonly\r\n").into_bytes();
    call.handle_request(now, Side::A, TxId(5), &hold);
    let reqs = requests(&drain(&mut call));
    let (side, reinvite) = &reqs[0];
    assert_eq!(*side, Side::B(0));
    let body = String::from_utf8(reinvite.body.clone()).unwrap();
    assert!(
        body.contains("a=sendonly") && body.contains("m=audio 30002"),
        "{body}"
    );
    // A second re-INVITE while one is pending gets 491.
    call.handle_request(now, Side::A, TxId(6), &hold);
    assert!(drain(&mut call)
        .iter()
        .any(|o| matches!(o, Output::Respond { tx: TxId(6), response } if response.status == 491)));
    let mut ok = reply_to(reinvite, 200, "b0", &format!("{ANSWER}a=recvonly\r\n"));
    ok.headers
        .set("CSeq", &format!("{} INVITE", reinvite.cseq()));
    call.handle_response(now, Side::B(0), &ok);
    let out = drain(&mut call);
    let resp = out.iter().find_map(|o| match o {
        Output::Respond {
            tx: TxId(5),
            response,
        } => Some(response.clone()),
        _ => None,
    });
    let resp = resp.expect("200 to the re-INVITE");
    assert_eq!(resp.status, 200);
    let body = String::from_utf8(resp.body).unwrap();
    assert!(
        body.contains("a=recvonly") && body.contains("m=audio 30000"),
        "{body}"
    );
    assert!(out.iter().any(|o| matches!(o, Output::Ack { .. })));
}

#[test]
fn unanswered_call_with_voicemail_is_diverted_without_a_final_response() {
    let (mut call, now) = start_with(1, true);
    let out = drain(&mut call);
    let invites = requests(&out);
    call.handle_response(now, Side::B(0), &reply_to(&invites[0].1, 180, "b", ""));
    assert_eq!(responses_to_a(&drain(&mut call)), vec![180]);
    call.handle_timeout(now + Duration::from_secs(31));
    let out = drain(&mut call);
    assert!(responses_to_a(&out).is_empty(), "{out:?}");
    assert!(out.contains(&Output::Event(CallEvent::Unanswered { busy: false })));
    // The fork is cancelled, and the caller's leg keeps the tag of its 180.
    assert!(requests(&out)
        .iter()
        .any(|(_, r)| r.method == Method::Cancel));
    let leg = call.a_leg();
    assert_eq!(leg.tx, TxId(1));
    assert!(!leg.tag.is_empty());
}

#[test]
fn busy_callee_with_voicemail_is_diverted_as_busy() {
    let (mut call, now) = start_with(1, true);
    let invites = requests(&drain(&mut call));
    call.handle_response(now, Side::B(0), &reply_to(&invites[0].1, 486, "b", ""));
    let out = drain(&mut call);
    assert!(responses_to_a(&out).is_empty());
    assert!(out.contains(&Output::Event(CallEvent::Unanswered { busy: true })));
    assert!(call.is_ended());
}

#[test]
fn only_the_legs_own_party_with_the_dialogs_tags_may_act_on_the_call() {
    let (call, _, _) = answered();
    let a_tag = call.a_leg().tag;
    let bye = |from_tag: &str, to_tag: &str| {
        let mut r = Request {
            method: Method::Bye,
            ..invite()
        };
        r.headers
            .set("From", &format!("<sip:100@pbx>;tag={from_tag}"));
        r.headers.set("To", &format!("<sip:101@pbx>;tag={to_tag}"));
        r
    };
    let caller: std::net::IpAddr = "10.0.0.1".parse().unwrap();
    let stranger: std::net::IpAddr = "10.66.66.66".parse().unwrap();
    assert!(call.accepts(Side::A, &bye("ta", &a_tag), caller));
    // The right tags from another host, or the wrong tags from the caller: refused.
    assert!(!call.accepts(Side::A, &bye("ta", &a_tag), stranger));
    assert!(!call.accepts(Side::A, &bye("ta", "guessed"), caller));
    assert!(!call.accepts(Side::A, &bye("other", &a_tag), caller));
    // The callee's leg: its own tags, from its own flow.
    let mut from_callee = bye("b0", "x");
    let fork_tag = crate::sip::header::param(&requests_local_from(&call), "tag")
        .unwrap_or_default()
        .to_string();
    from_callee
        .headers
        .set("To", &format!("<sip:100@pbx>;tag={fork_tag}"));
    assert!(call.accepts(Side::B(0), &from_callee, "10.0.0.2".parse().unwrap()));
    assert!(!call.accepts(Side::B(0), &from_callee, caller));
}

/// The From header Parley put on the forked INVITE (its tag is Parley's on the B leg).
fn requests_local_from(call: &Call) -> String {
    call.forks[0].dialog.local.clone()
}

#[test]
fn a_display_name_is_written_as_a_quoted_string_whatever_it_holds() {
    assert_eq!(super::quoted("Bob"), "Bob");
    assert_eq!(super::quoted(r#"Bob "B" Jr\"#), r#"Bob \"B\" Jr\\"#);
    assert_eq!(super::quoted("a\r\nb\u{7}"), "ab");
    // What is written parses back as one name-addr.
    let header = format!(
        "\"{}\" <sip:100@parley>;tag=x",
        super::quoted(r#"x\" <sip:evil@x>"#)
    );
    let parsed = crate::sip::header::NameAddr::parse(&header).unwrap();
    assert_eq!(parsed.uri.to_string(), "sip:100@parley");
}
