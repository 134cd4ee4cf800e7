//! Calls to the outside in the simulated switch: a phone dials `9` and a number, the switch sends it
//! through a registered trunk to a carrier that challenges with 407 and checks the answer with
//! Parley's own digest verifier; dialling classes, emergency numbers and refusals.

use super::*;
use crate::sip::digest::{Credentials, DigestAuth, RequestLine, Verdict};
use crate::trunk::dialplan::DialClass;
use crate::trunk::{TrunkConfig, TrunkLogin, TrunkName, TrunkOptions};

const CARRIER: &str = "192.0.2.50:5060";

/// The carrier as a phone of the simulation (its address is where the trunk's requests go).
fn carrier() -> Phone {
    Phone {
        user: "carrier".into(),
        password: String::new(),
        addr: CARRIER.parse().unwrap(),
        n: 0,
    }
}

/// A registering trunk to the carrier, registered (its REGISTER answered 200 at once).
fn trunk_up(sim: &mut Sim) {
    let trunk = TrunkConfig {
        name: TrunkName::new("carrier").unwrap(),
        host: "carrier.example".into(),
        port: 5060,
        target: Ok(Target {
            transport: Transport::Udp,
            addr: CARRIER.parse().unwrap(),
        }),
        login: Some(TrunkLogin {
            username: "4930123456".into(),
            auth_username: None,
            secret: crate::sip::digest::ClientSecret::new("trunk-pass"),
            expires: Duration::from_secs(600),
        }),
        auth: Some((
            "4930123456".into(),
            crate::sip::digest::ClientSecret::new("trunk-pass"),
        )),
        peers: Vec::new(),
        options: Default::default(),
    };
    sim.sw.set_trunks(sim.now, vec![trunk]);
    sim.run();
    let reg = sim.sent_to(&carrier(), Method::Register).pop().unwrap();
    let mut ok = Response::to_request(&reg.request, StatusCode::OK, Some("c"));
    ok.headers.push("Expires", "600");
    sim.sw.handle_response(sim.now, &reg.route, ok);
    sim.run();
    assert_eq!(sim.sw.view(sim.now).trunks[0].state, "registered");
}

fn user(r: &Request, header: &str) -> String {
    r.headers
        .get(header)
        .and_then(crate::sip::header::NameAddr::parse)
        .and_then(|n| n.uri.user)
        .unwrap_or_default()
}

#[test]
fn a_national_number_goes_out_in_e164_with_the_company_number_and_the_carriers_challenge_answered()
{
    let mut sim = Sim::new();
    let (mut alice, _) = two_phones(&mut sim);
    trunk_up(&mut sim);
    let (tx, _) = sim.dial(&mut alice, "95855550123");
    let first = sim.sent_to(&carrier(), Method::Invite);
    assert_eq!(first.len(), 1);
    let invite = &first[0].request;
    assert_eq!(invite.uri.to_string(), "sip:+15855550123@carrier.example");
    assert_eq!(
        user(invite, "From"),
        "+15855550100",
        "the company's main number"
    );
    assert_eq!(user(invite, "To"), "+15855550123");
    assert!(
        String::from_utf8_lossy(&invite.body).contains("m=audio 40002"),
        "the relay faces the carrier"
    );
    // The carrier challenges (407) and checks the answer with a replay-proof verifier.
    let mut verifier =
        DigestAuth::new("carrier.example", b"carrier-key", 300, vec![Algorithm::Md5]);
    let mut challenge = Response::to_request(invite, StatusCode::new(407).unwrap(), Some("k"));
    for c in verifier.challenges(1_000, 1, false) {
        challenge.headers.push("Proxy-Authenticate", &c);
    }
    sim.sw.handle_response(sim.now, &first[0].route, challenge);
    sim.run();
    let again = sim.sent_to(&carrier(), Method::Invite);
    assert_eq!(again.len(), 2, "the INVITE again, with the answer");
    let authed = &again[1].request;
    assert_eq!(authed.call_id(), invite.call_id(), "the same dialog");
    assert_eq!(authed.cseq(), invite.cseq() + 1);
    assert_ne!(
        authed.headers.get("Via"),
        invite.headers.get("Via"),
        "a new transaction"
    );
    let creds = Credentials::parse(authed.headers.get("Proxy-Authorization").unwrap()).unwrap();
    assert_eq!(creds.username, "4930123456");
    let verdict = verifier.verify(
        &creds,
        RequestLine {
            method: "INVITE",
            uri: &authed.uri,
        },
        1_000,
        |u, alg| Some(ha1(alg, u, "carrier.example", "trunk-pass")),
    );
    assert_eq!(verdict, Verdict::Accepted);
    assert!(
        sim.final_on(tx).is_none(),
        "the caller is not told of the carrier's challenge"
    );
    // The carrier rings (longer than an extension's no-answer time) and answers: the caller is
    // connected, the call names the number.
    sim.reply(&carrier(), Method::Invite, 180, "");
    sim.advance(Duration::from_secs(40));
    assert!(sim.final_on(tx).is_none(), "still ringing after 40 s");
    sim.reply(&carrier(), Method::Invite, 200, OFFER);
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    assert_eq!(sim.sw.view(sim.now).calls[0].callee, "+15855550123");
}

#[test]
fn a_carrier_that_keeps_challenging_fails_the_leg_and_the_caller_never_sees_its_challenge() {
    let mut sim = Sim::new();
    let (mut alice, _) = two_phones(&mut sim);
    trunk_up(&mut sim);
    let (tx, _) = sim.dial(&mut alice, "95855550123");
    let verifier = DigestAuth::new("carrier.example", b"carrier-key", 300, vec![Algorithm::Md5]);
    for round in 0..3 {
        let sent = sim.sent_to(&carrier(), Method::Invite);
        assert_eq!(sent.len(), round + 1);
        let last = sent.last().unwrap();
        let mut challenge =
            Response::to_request(&last.request, StatusCode::new(401).unwrap(), Some("k"));
        for c in verifier.challenges(1_000 + round as u64, round as u64, false) {
            challenge.headers.push("WWW-Authenticate", &c);
        }
        sim.sw.handle_response(sim.now, &last.route, challenge);
        sim.run();
    }
    assert_eq!(
        sim.sent_to(&carrier(), Method::Invite).len(),
        3,
        "two answers, no more"
    );
    let fin = sim.final_on(tx).unwrap();
    assert_eq!(fin.status, 503);
    assert!(fin.headers.get("WWW-Authenticate").is_none());
    assert_eq!(sim.records.last().unwrap().outcome, Outcome::Failed);
}

#[test]
fn dialling_classes_refuse_with_the_reason_and_emergency_numbers_always_go_out() {
    let mut sim = Sim::new();
    let (mut alice, _) = two_phones(&mut sim);
    trunk_up(&mut sim);
    sim.accounts.get_mut("100").unwrap().dial_class = DialClass::Internal;
    let (tx, _) = sim.dial(&mut alice, "95855550123");
    let fin = sim.final_on(tx).unwrap();
    assert_eq!(
        (fin.status.as_u16(), fin.reason.as_str()),
        (403, "national calls are not allowed")
    );
    assert!(
        sim.sent_to(&carrier(), Method::Invite).is_empty(),
        "the carrier sees nothing"
    );
    // 911 with or without the prefix, whatever the class.
    for dialled in ["911", "9911"] {
        let (tx, _) = sim.dial(&mut alice, dialled);
        assert!(sim.final_on(tx).is_none(), "{dialled} rings out");
        let sent = sim.sent_to(&carrier(), Method::Invite);
        assert_eq!(
            sent.last().unwrap().request.uri.to_string(),
            "sip:911@carrier.example"
        );
    }
    let n = sim.sent_to(&carrier(), Method::Invite).len();
    sim.accounts.get_mut("100").unwrap().dial_class = DialClass::National;
    for (dialled, reason) in [
        ("9011442079460123", "international calls are not allowed"),
        ("99005550123", "premium-rate calls are not allowed"),
    ] {
        let (tx, _) = sim.dial(&mut alice, dialled);
        let fin = sim.final_on(tx).unwrap();
        assert_eq!((fin.status.as_u16(), fin.reason.as_str()), (403, reason));
    }
    assert_eq!(sim.sent_to(&carrier(), Method::Invite).len(), n);
    // A number that is none: 484 (one shaped like an extension is looked up as one: 404); the
    // user's own number shown when it has one.
    let (tx, _) = sim.dial(&mut alice, "91234567890");
    assert_eq!(sim.final_on(tx).unwrap().status, 484);
    let (tx, _) = sim.dial(&mut alice, "9123");
    assert_eq!(sim.final_on(tx).unwrap().status, 404);
    sim.accounts.get_mut("100").unwrap().outside_number = Some("+15855550142".into());
    sim.dial(&mut alice, "95855550123");
    let last = sim.sent_to(&carrier(), Method::Invite).pop().unwrap();
    assert_eq!(user(&last.request, "From"), "+15855550142");
}

#[test]
fn without_a_trunk_that_is_up_an_outside_call_gets_503_and_extensions_still_ring() {
    let mut sim = Sim::new();
    let (mut alice, bob) = two_phones(&mut sim);
    let (tx, _) = sim.dial(&mut alice, "95855550123");
    let fin = sim.final_on(tx).unwrap();
    assert_eq!(
        (fin.status.as_u16(), fin.reason.as_str()),
        (503, "No Outside Line Available")
    );
    let (tx, _) = sim.dial(&mut alice, "101");
    assert!(sim.final_on(tx).is_none());
    assert_eq!(sim.sent_to(&bob, Method::Invite).len(), 1);
}

/// An IP peer at `addr` (`host:port`) with `options`.
fn peer(name: &str, addr: &str, options: TrunkOptions) -> TrunkConfig {
    let addr: SocketAddr = addr.parse().unwrap();
    TrunkConfig {
        name: TrunkName::new(name).unwrap(),
        host: addr.ip().to_string(),
        port: 5060,
        target: Ok(Target {
            transport: Transport::Udp,
            addr,
        }),
        login: None,
        auth: None,
        peers: Vec::new(),
        options,
    }
}

/// The carrier's INVITE to `number` from `caller`.
fn from_outside(
    sim: &mut Sim,
    from: &mut Phone,
    caller: &str,
    number: &str,
) -> (TxId, Option<Response>) {
    from.n += 1;
    let text = format!(
        "INVITE sip:{number}@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP {addr};branch=z9hG4bKc{n}\r\nFrom: <sip:{caller}@carrier.example>;tag=c{n}\r\nTo: <sip:{number}@192.0.2.1>\r\nCall-ID: in-{n}\r\nCSeq: 1 INVITE\r\nContact: <sip:{caller}@{addr}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{OFFER}",
        addr = from.addr,
        n = from.n,
        len = OFFER.len()
    );
    let target = from.target();
    sim.send(parse_request(&text), target)
}

fn peer_trunk(sim: &mut Sim, default: Option<&str>) {
    let trunk = TrunkConfig {
        name: TrunkName::new("carrier").unwrap(),
        host: "carrier.example".into(),
        port: 5060,
        target: Ok(Target {
            transport: Transport::Udp,
            addr: CARRIER.parse().unwrap(),
        }),
        login: None,
        auth: None,
        peers: vec!["192.0.2.51".parse().unwrap()],
        options: Default::default(),
    };
    sim.sw.set_trunks(sim.now, vec![trunk]);
    sim.sw.set_dids(vec![
        crate::trunk::Did {
            number: "+15855550101".into(),
            target: crate::trunk::DidTarget::Extension("101".into()),
        },
        crate::trunk::Did {
            number: "+15855550199".into(),
            target: crate::trunk::DidTarget::Mailbox("102".into()),
        },
    ]);
    sim.sw.config.outside.inbound_default = default.map(str::to_string);
    sim.run();
}

#[test]
fn a_call_from_the_trunk_to_a_did_rings_its_extension_with_the_callers_number_in_e164() {
    let mut sim = Sim::new();
    let (alice, bob) = two_phones(&mut sim);
    peer_trunk(&mut sim, Some("100"));
    let mut c = carrier();
    // The carrier writes the number without `+`; the caller in national form.
    let (tx, r) = from_outside(&mut sim, &mut c, "5855550123", "15855550101");
    assert!(
        r.is_none(),
        "no challenge: the trunk's address is its credential"
    );
    let ring = sim.sent_to(&bob, Method::Invite);
    assert_eq!(ring.len(), 1);
    assert_eq!(
        user(&ring[0].request, "From"),
        "+15855550123",
        "a number the phone can call back"
    );
    sim.reply(&bob, Method::Invite, 200, OFFER);
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    // A carrier that sends calls to the registration's Contact names the DID in To only.
    c.n += 1;
    let text = format!(
        "INVITE sip:4930123456@192.0.2.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {CARRIER};branch=z9hG4bKto{n}\r\nFrom: <sip:5855550125@carrier.example>;tag=t{n}\r\nTo: <sip:+15855550101@carrier.example>\r\nCall-ID: to-{n}\r\nCSeq: 1 INVITE\r\nContact: <sip:x@{CARRIER}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{OFFER}",
        n = c.n,
        len = OFFER.len()
    );
    let target = c.target();
    sim.send(parse_request(&text), target);
    let ring = sim.sent_to(&bob, Method::Invite);
    assert_eq!(ring.len(), 2, "bob's DID, named in To");
    assert_eq!(user(&ring[1].request, "From"), "+15855550125");
    // A number that is no DID goes to the default destination.
    let (_, r) = from_outside(&mut sim, &mut c, "+442079460123", "+15855550777");
    assert!(r.is_none());
    let ring = sim.sent_to(&alice, Method::Invite);
    assert_eq!(ring.len(), 1);
    assert_eq!(user(&ring[0].request, "From"), "+442079460123");
    // From an IP peer's other address, to the mailbox DID: straight to 102's voicemail.
    let mut other = Phone {
        addr: "192.0.2.51:5060".parse().unwrap(),
        ..carrier()
    };
    let before = sim.voicemail_calls().len();
    let (_, r) = from_outside(&mut sim, &mut other, "anonymous", "+15855550199");
    assert_eq!(r.map(|r| r.status.as_u16()), Some(200), "voicemail answers");
    assert_eq!(sim.voicemail_calls().len(), before + 1);
    assert!(sim
        .sent_to(&Phone::new("102", 9), Method::Invite)
        .is_empty());
}

#[test]
fn without_a_default_an_unknown_number_gets_404_and_a_stranger_claiming_to_be_the_carrier_is_challenged(
) {
    let mut sim = Sim::new();
    let (_alice, bob) = two_phones(&mut sim);
    peer_trunk(&mut sim, None);
    let (_, r) = from_outside(&mut sim, &mut carrier(), "5855550123", "+15855550777");
    assert_eq!(r.unwrap().status, 404);
    let mut stranger = Phone {
        addr: "198.51.100.9:5060".parse().unwrap(),
        ..carrier()
    };
    let (_, r) = from_outside(&mut sim, &mut stranger, "5855550123", "+15855550101");
    assert_eq!(
        r.unwrap().status,
        407,
        "a stranger must authenticate like any phone"
    );
    assert!(sim.sent_to(&bob, Method::Invite).is_empty());
}

#[test]
fn emergency_calls_go_out_without_a_registration_and_one_account_holds_two_at_most() {
    let mut sim = Sim::new();
    let (mut alice, _) = two_phones(&mut sim);
    trunk_up(&mut sim);
    sim.accounts.get_mut("100").unwrap().dial_class = DialClass::Internal;
    for _ in 0..2 {
        let (tx, _) = sim.dial(&mut alice, "911");
        assert!(sim.final_on(tx).is_none(), "rings out");
    }
    assert_eq!(sim.sent_to(&carrier(), Method::Invite).len(), 2);
    let (tx, _) = sim.dial(&mut alice, "911");
    assert_eq!(
        sim.final_on(tx).unwrap().status,
        486,
        "a third at once is one too many"
    );
    assert_eq!(sim.sent_to(&carrier(), Method::Invite).len(), 2);
    // The trunk's registration failed: 911 still goes out through it, ordinary calls do not.
    let mut sim = Sim::new();
    let (mut alice, _) = two_phones(&mut sim);
    trunk_up(&mut sim);
    // The refresh goes unanswered.
    sim.advance(Duration::from_secs(600));
    let reg = sim.sent_to(&carrier(), Method::Register).pop().unwrap();
    sim.sw.handle_client_done(sim.now, reg.route.clone(), false);
    sim.run();
    assert_eq!(sim.sw.view(sim.now).trunks[0].state, "failed");
    let (tx, _) = sim.dial(&mut alice, "95855550123");
    assert_eq!(sim.final_on(tx).unwrap().status, 503);
    let (tx, _) = sim.dial(&mut alice, "911");
    assert!(sim.final_on(tx).is_none());
    let out = sim.sent_to(&carrier(), Method::Invite).pop().unwrap();
    assert_eq!(out.request.uri.to_string(), "sip:911@carrier.example");
    assert_eq!(user(&out.request, "From"), "+15855550100");
}

#[test]
fn a_trunk_that_answers_503_or_times_out_hands_the_call_to_the_next_and_a_busy_far_end_does_not() {
    let mut sim = Sim::new();
    let (mut alice, _) = two_phones(&mut sim);
    let backup: SocketAddr = "192.0.2.60:5060".parse().unwrap();
    let third: SocketAddr = "192.0.2.70:5060".parse().unwrap();
    sim.sw.set_trunks(
        sim.now,
        vec![
            peer("a-main", CARRIER, Default::default()),
            peer("b-backup", &backup.to_string(), Default::default()),
            peer("c-third", &third.to_string(), Default::default()),
        ],
    );
    sim.accounts.get_mut("100").unwrap().dial_class = DialClass::National;
    let (tx, _) = sim.dial(&mut alice, "95855550123");
    let main = carrier();
    let second = Phone {
        addr: backup,
        ..carrier()
    };
    let last = Phone {
        addr: third,
        ..carrier()
    };
    assert_eq!(sim.sent_to(&main, Method::Invite).len(), 1);
    assert!(
        sim.sent_to(&second, Method::Invite).is_empty(),
        "one trunk at a time"
    );
    sim.reply(&main, Method::Invite, 503, "");
    let out = sim.sent_to(&second, Method::Invite);
    assert_eq!(out.len(), 1, "the next trunk");
    assert_eq!(
        out[0].request.uri.to_string(),
        "sip:+15855550123@192.0.2.60"
    );
    // The backup times out (408 from the transaction): the third trunk.
    sim.sw
        .handle_client_done(sim.now, out[0].route.clone(), false);
    sim.run();
    assert_eq!(sim.sent_to(&last, Method::Invite).len(), 1);
    assert!(sim.final_on(tx).is_none());
    sim.reply(&last, Method::Invite, 180, "");
    sim.reply(&last, Method::Invite, 200, OFFER);
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    // The answered leg's BYE is found by its Call-ID.
    let bye_from_far_end = {
        let inv = &sim.sent_to(&last, Method::Invite)[0].request;
        let mut r = inv.clone();
        r.method = Method::Bye;
        r
    };
    assert!(sim.sw.by_call_id.contains_key(bye_from_far_end.call_id()));
    // A busy far end is the callee's answer, not the way's fault: no other trunk is tried.
    let (tx, _) = sim.dial(&mut alice, "95855550124");
    let n2 = sim.sent_to(&second, Method::Invite).len();
    sim.reply(&main, Method::Invite, 486, "");
    assert_eq!(sim.final_on(tx).unwrap().status, 486);
    assert_eq!(sim.sent_to(&second, Method::Invite).len(), n2);
}

/// The status and reason of a call refused at once.
#[track_caller]
fn refused(sim: &Sim, tx: TxId) -> (u16, String) {
    let fin = sim.final_on(tx).expect("refused at once");
    (fin.status.as_u16(), fin.reason.clone())
}

/// The carrier answers every INVITE it was sent with `status`.
fn carrier_answers_all(sim: &mut Sim, status: u16) {
    for s in sim.sent_to(&carrier(), Method::Invite) {
        let r = answer(&s.request, status, "tc", "");
        sim.sw.handle_response(sim.now, &s.route, r);
        sim.run();
    }
}

#[test]
fn outside_call_limits_refuse_with_403_audit_and_alert_once_and_never_hold_back_an_emergency_call()
{
    let mut cfg = config();
    cfg.outside.limits = crate::trunk::limits::OutsideLimits {
        per_user: 2,
        total: 3,
        per_user_hour: 4,
        total_hour: 100,
    };
    let mut sim = Sim::with(cfg);
    let (mut alice, mut bob) = two_phones(&mut sim);
    trunk_up(&mut sim);
    // Two at once per user: the third is refused, and the carrier never sees it.
    for n in ["95855550123", "95855550124"] {
        let (tx, _) = sim.dial(&mut alice, n);
        assert!(sim.final_on(tx).is_none(), "{n} rings out");
    }
    let (tx, _) = sim.dial(&mut alice, "95855550125");
    assert_eq!(
        refused(&sim, tx),
        (403, "Outside call limit reached: 2 at once per user".into())
    );
    assert_eq!(sim.sent_to(&carrier(), Method::Invite).len(), 2);
    assert_eq!(sim.refusals.len(), 1);
    let r = &sim.refusals[0];
    assert_eq!(
        (r.caller.as_str(), r.number.as_str(), r.limit),
        ("100", "+15855550125", "user.simultaneous")
    );
    assert_eq!(r.source, alice.addr.ip());
    assert!(r.audit && r.alert);
    // Tried again: audited, but no second alert.
    let (tx, _) = sim.dial(&mut alice, "95855550125");
    assert_eq!(refused(&sim, tx).0, 403);
    assert!(sim.refusals[1].audit && !sim.refusals[1].alert);
    // Over the limit, an emergency call still goes out, and does not count.
    let (tx, _) = sim.dial(&mut alice, "911");
    assert!(sim.final_on(tx).is_none(), "911 rings out");
    assert_eq!(sim.sent_to(&carrier(), Method::Invite).len(), 3);
    // The system's three at once: bob's first fits, his second does not.
    let (tx, _) = sim.dial(&mut bob, "95855550126");
    assert!(sim.final_on(tx).is_none());
    let (tx, _) = sim.dial(&mut bob, "95855550127");
    assert_eq!(
        refused(&sim, tx),
        (
            403,
            "Outside call limit reached: 3 at once for the system".into()
        )
    );
    assert_eq!(sim.refusals.last().unwrap().limit, "system.simultaneous");
    // The calls end (the far ends are busy): alice may call again, two more make her four in
    // the hour, and the fifth trips the hourly limit (one alert for it).
    carrier_answers_all(&mut sim, 486);
    for n in ["95855550128", "95855550129"] {
        let (tx, _) = sim.dial(&mut alice, n);
        assert!(sim.final_on(tx).is_none(), "{n} rings out");
    }
    carrier_answers_all(&mut sim, 486);
    let before = sim.refusals.len();
    for _ in 0..3 {
        let (tx, _) = sim.dial(&mut alice, "95855550130");
        assert_eq!(
            refused(&sim, tx),
            (403, "Outside call limit reached: 4 an hour per user".into())
        );
    }
    let hourly: Vec<_> = sim.refusals[before..].iter().collect();
    assert!(hourly.iter().all(|r| r.limit == "user.hourly" && r.audit));
    assert_eq!(hourly.iter().filter(|r| r.alert).count(), 1, "one alert");
    let (tx, _) = sim.dial(&mut alice, "9112");
    assert!(sim.final_on(tx).is_none(), "112 over the hourly limit");
    // Bob's hour is his own; an hour later alice may call again.
    let (tx, _) = sim.dial(&mut bob, "95855550131");
    assert!(sim.final_on(tx).is_none());
    carrier_answers_all(&mut sim, 486);
    sim.advance(crate::trunk::limits::HOUR);
    let (tx, _) = sim.dial(&mut alice, "95855550132");
    assert!(sim.final_on(tx).is_none(), "a new hour");
}

mod options;

#[test]
fn a_route_ending_in_a_number_outside_calls_it_as_the_user_would_with_the_central_number() {
    use crate::routing::{CallRoute, Finally};
    let mut cfg = config();
    cfg.outside.limits = crate::trunk::limits::OutsideLimits {
        per_user: 1,
        total: 10,
        per_user_hour: 10,
        total_hour: 100,
    };
    let mut sim = Sim::with(cfg);
    let (mut alice, _bob) = two_phones(&mut sim);
    trunk_up(&mut sim);
    // Bob (101) forwards every call to his mobile: Callisto's Unconditional "To Number".
    let bob = sim.accounts.get_mut("101").unwrap();
    bob.outside_number = Some("+15855550101".into());
    let r = &mut bob.routing;
    r.routes.insert(
        r.presence,
        CallRoute {
            attempts: Vec::new(),
            finally: Finally::to("+1 585 555 0199"),
        },
    );
    let (tx, _) = sim.dial(&mut alice, "101");
    let out = sim.sent_to(&carrier(), Method::Invite);
    assert_eq!(out.len(), 1, "straight out, no phone rings");
    let invite = &out[0].request;
    assert_eq!(invite.uri.to_string(), "sip:+15855550199@carrier.example");
    assert_eq!(
        user(invite, "From"),
        "+15855550100",
        "the company's central number, not Bob's own nor Alice's extension"
    );
    sim.reply(&carrier(), Method::Invite, 180, "");
    sim.reply(&carrier(), Method::Invite, 200, OFFER);
    assert_eq!(sim.final_on(tx).unwrap().status, 200, "the mobile answered");
    // It counts against Bob's limit (one at once): a second forward cannot go out and the caller
    // reaches Bob's voicemail instead, the carrier never sees it.
    let mut carol = Phone::new("102", 4);
    sim.register(&mut carol, 3600);
    let (tx, _) = sim.dial(&mut carol, "101");
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    assert_eq!(sim.deposits(), ["voicemail 101"]);
    assert_eq!(sim.sent_to(&carrier(), Method::Invite).len(), 1);
    assert_eq!(sim.refusals.last().unwrap().caller, "101");
    // A user whose dialling class does not allow the number: voicemail, nothing goes out.
    let mut sim = Sim::new();
    let (mut alice, _bob) = two_phones(&mut sim);
    trunk_up(&mut sim);
    let bob = sim.accounts.get_mut("101").unwrap();
    bob.dial_class = DialClass::Internal;
    let r = &mut bob.routing;
    r.routes.insert(
        r.presence,
        CallRoute {
            attempts: Vec::new(),
            finally: Finally::to("+442079460000"),
        },
    );
    let (tx, _) = sim.dial(&mut alice, "101");
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    assert_eq!(sim.deposits(), ["voicemail 101"]);
    assert!(sim.sent_to(&carrier(), Method::Invite).is_empty());
}

// ---- Follow-Me: a number outside in a connection attempt, screened ----

/// Bob (101) rings his phone and his mobile at once for 20 s, then voicemail; the trunk is up.
fn follow_me(sim: &mut Sim) -> (Phone, Phone) {
    use crate::routing::{Attempt, CallRoute, Destination, Finally};
    let (alice, bob) = two_phones(sim);
    trunk_up(sim);
    let r = &mut sim.accounts.get_mut("101").unwrap().routing;
    r.routes.insert(
        r.presence,
        CallRoute {
            attempts: vec![Attempt {
                destinations: vec![Destination::Handsets, Destination::to("+1 585 555 0199")],
                ring_secs: Some(20),
            }],
            finally: Finally::Voicemail,
        },
    );
    (alice, bob)
}

/// The screenings started and stopped, in order (`true`: started).
fn screenings(sim: &Sim) -> Vec<bool> {
    sim.screens.iter().map(|(_, s)| s.is_some()).collect()
}

/// The carrier hangs up the Follow-Me leg it answered.
fn carrier_hangs_up(sim: &mut Sim) {
    let invite = sim
        .sent_to(&carrier(), Method::Invite)
        .pop()
        .unwrap()
        .request;
    let mut c = carrier();
    let mut bye = c.request(
        "BYE",
        "sip:parley@127.0.0.1",
        "x",
        invite.call_id(),
        2,
        "",
        "",
    );
    let to = invite.headers.get("To").unwrap().to_string();
    bye.headers.set("From", &format!("{to};tag=tcarrier"));
    let from = invite.headers.get("From").unwrap().to_string();
    bye.headers.set("To", &from);
    let (_, ok) = sim.send(bye, c.target());
    assert_eq!(ok.unwrap().status, 200);
}

#[test]
fn follow_me_rings_the_mobile_with_the_phone_and_bridges_only_once_1_is_pressed() {
    let mut sim = Sim::new();
    let (mut alice, bob) = follow_me(&mut sim);
    let (tx, _) = sim.dial(&mut alice, "101");
    assert_eq!(
        sim.sent_to(&bob, Method::Invite).len(),
        1,
        "the desk phone rings"
    );
    sim.reply(&bob, Method::Invite, 180, "");
    let out = sim.sent_to(&carrier(), Method::Invite);
    assert_eq!(out.len(), 1, "and the mobile at once");
    assert_eq!(
        out[0].request.uri.to_string(),
        "sip:+15855550199@carrier.example"
    );
    assert_eq!(
        user(&out[0].request, "From"),
        "+15855550100",
        "the central number"
    );
    // The mobile answers: Parley screens it; the caller still hears ringing.
    sim.reply(&carrier(), Method::Invite, 200, OFFER);
    assert!(sim.final_on(tx).is_none(), "not bridged on answer");
    let (call, s) = sim.screens.last().cloned().unwrap();
    let s = s.expect("screening started");
    assert_eq!(s.remote, "127.0.0.1:4000".parse().unwrap());
    assert_eq!((s.pt, s.te), (0, Some(101)));
    let said: Vec<String> = s
        .audio
        .iter()
        .map(|a| match a {
            Audio::Prompt(p) => p.clone(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        said,
        [
            "followme-call-from",
            "digits/1",
            "digits/0",
            "digits/0",
            "followme-press"
        ],
        "the caller's number, then press 1"
    );
    assert!(
        sim.sent_to(&bob, Method::Cancel).is_empty(),
        "the desk phone rings on"
    );
    // Other keys do nothing; 1 accepts: the caller is answered and bridged to the mobile, the
    // desk phone is cancelled.
    sim.sw.handle_screen_digit(sim.now, call, '5');
    sim.run();
    assert!(sim.final_on(tx).is_none());
    sim.sw.handle_screen_digit(sim.now, call, '1');
    sim.run();
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    assert_eq!(screenings(&sim), [true, false]);
    assert_eq!(sim.sent_to(&bob, Method::Cancel).len(), 1);
    let (_, u) = sim.steered.last().unwrap();
    assert_eq!(u.b_remote, Some("127.0.0.1:4000".parse().unwrap()));
    assert!(sim.sent_to(&carrier(), Method::Bye).is_empty());
}

#[test]
fn a_mobile_that_answers_and_presses_nothing_is_dropped_and_the_caller_leaves_a_message() {
    let mut sim = Sim::new();
    let (mut alice, _bob) = follow_me(&mut sim);
    let (tx, _) = sim.dial(&mut alice, "101");
    // The mobile's own voicemail answers after 15 s and never presses a key.
    sim.advance(Duration::from_secs(15));
    sim.reply(&carrier(), Method::Invite, 200, OFFER);
    // The route's 20 s pass: it waits for the person answering to decide.
    sim.advance(Duration::from_secs(10));
    assert!(
        sim.sent_to(&carrier(), Method::Bye).is_empty(),
        "still deciding"
    );
    assert!(sim.final_on(tx).is_none());
    // 20 s after its answer the mobile is hung up on and the route goes on: voicemail.
    sim.advance(Duration::from_secs(10));
    assert_eq!(sim.sent_to(&carrier(), Method::Bye).len(), 1);
    assert_eq!(screenings(&sim), [true, false]);
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    assert_eq!(sim.deposits(), ["voicemail 101"]);
}

#[test]
fn a_mobile_that_declines_or_hangs_up_leaves_the_desk_phone_ringing() {
    for how in ["2", "hang up"] {
        let mut sim = Sim::new();
        let (mut alice, bob) = follow_me(&mut sim);
        let (tx, _) = sim.dial(&mut alice, "101");
        sim.reply(&carrier(), Method::Invite, 200, OFFER);
        let call = sim.screens[0].0;
        if how == "2" {
            sim.sw.handle_screen_digit(sim.now, call, '2');
            sim.run();
            assert_eq!(sim.sent_to(&carrier(), Method::Bye).len(), 1, "{how}");
        } else {
            carrier_hangs_up(&mut sim);
            assert!(sim.sent_to(&carrier(), Method::Bye).is_empty(), "{how}");
        }
        assert_eq!(screenings(&sim), [true, false], "{how}");
        assert!(
            sim.final_on(tx).is_none(),
            "{how}: the desk phone still rings"
        );
        assert!(sim.sent_to(&bob, Method::Cancel).is_empty(), "{how}");
        // A late 1 does nothing; Bob answers his desk phone.
        sim.sw.handle_screen_digit(sim.now, call, '1');
        sim.run();
        assert!(sim.final_on(tx).is_none(), "{how}");
        sim.reply(&bob, Method::Invite, 200, OFFER);
        assert_eq!(sim.final_on(tx).unwrap().status, 200, "{how}");
    }
}

#[test]
fn the_caller_hanging_up_while_the_mobile_decides_ends_the_mobiles_leg_too() {
    let mut sim = Sim::new();
    let (mut alice, bob) = follow_me(&mut sim);
    let (_, call_id) = sim.dial(&mut alice, "101");
    sim.reply(&bob, Method::Invite, 180, "");
    sim.reply(&carrier(), Method::Invite, 200, OFFER);
    let cancel = alice.request("CANCEL", "sip:101@parley", "101", &call_id, 1, "", "");
    sim.send(cancel, alice.target());
    assert_eq!(sim.sent_to(&carrier(), Method::Bye).len(), 1);
    assert_eq!(sim.sent_to(&bob, Method::Cancel).len(), 1);
    assert_eq!(screenings(&sim), [true, false]);
}

#[test]
fn follow_me_is_the_users_outside_call_and_not_placed_when_the_user_may_not_call_out() {
    let mut sim = Sim::new();
    let (mut alice, bob) = follow_me(&mut sim);
    sim.accounts.get_mut("101").unwrap().dial_class = DialClass::Internal;
    let (tx, _) = sim.dial(&mut alice, "101");
    assert_eq!(
        sim.sent_to(&bob, Method::Invite).len(),
        1,
        "the desk phone rings"
    );
    assert!(
        sim.sent_to(&carrier(), Method::Invite).is_empty(),
        "the mobile does not"
    );
    sim.reply(&bob, Method::Invite, 200, OFFER);
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
}

/// Keys pressed on the screened leg of `call`.
fn keys(sim: &mut Sim, call: CallId, keys: &str) {
    for k in keys.chars() {
        sim.sw.handle_screen_digit(sim.now, call, k);
        sim.run();
    }
}

/// The prompts of the last screening started.
fn screen_said(sim: &Sim) -> Vec<String> {
    let s = sim
        .screens
        .iter()
        .rev()
        .find_map(|(_, s)| s.clone())
        .unwrap();
    s.audio
        .iter()
        .map(|a| match a {
            Audio::Prompt(p) => p.clone(),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn with_the_pin_required_the_mobile_takes_the_call_with_the_mailbox_pin_and_a_wrong_one_is_refused()
{
    let mut sim = Sim::new();
    let (mut alice, _bob) = follow_me(&mut sim);
    sim.accounts.get_mut("101").unwrap().follow_me_pin = true;
    sim.pins.insert("101".into(), "4321".into());
    let (tx, _) = sim.dial(&mut alice, "101");
    sim.reply(&carrier(), Method::Invite, 200, OFFER);
    let call = sim.screens[0].0;
    assert_eq!(screen_said(&sim).last().unwrap(), "followme-pin");
    // 1 is no PIN; a wrong PIN is refused and asked again.
    keys(&mut sim, call, "1");
    keys(&mut sim, call, "9999#");
    assert!(sim.final_on(tx).is_none());
    assert_eq!(screen_said(&sim), ["vm-incorrect", "followme-pin"]);
    // The right one takes the call.
    keys(&mut sim, call, "4321#");
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    assert!(sim.sent_to(&carrier(), Method::Bye).is_empty());
    // Three wrong PINs drop the leg; the route goes on to voicemail.
    let mut sim = Sim::new();
    let (mut alice, _bob) = follow_me(&mut sim);
    sim.accounts.get_mut("101").unwrap().follow_me_pin = true;
    sim.pins.insert("101".into(), "4321".into());
    let (tx, _) = sim.dial(&mut alice, "101");
    sim.reply(&carrier(), Method::Invite, 200, OFFER);
    let call = sim.screens[0].0;
    keys(&mut sim, call, "1111#2222#3333#");
    assert_eq!(sim.sent_to(&carrier(), Method::Bye).len(), 1);
    sim.advance(Duration::from_secs(25));
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    assert_eq!(sim.deposits(), ["voicemail 101"]);
    // 2 and # declines; a mailbox whose PIN was never set cannot be opened from a mobile.
    for (pins, entry) in [(true, "2#"), (false, "1234#")] {
        let mut sim = Sim::new();
        let (mut alice, _bob) = follow_me(&mut sim);
        sim.accounts.get_mut("101").unwrap().follow_me_pin = true;
        if pins {
            sim.pins.insert("101".into(), "4321".into());
        }
        let (tx, _) = sim.dial(&mut alice, "101");
        sim.reply(&carrier(), Method::Invite, 200, OFFER);
        let call = sim.screens[0].0;
        keys(&mut sim, call, entry);
        assert!(sim.final_on(tx).is_none(), "{entry}");
        if pins {
            assert_eq!(sim.sent_to(&carrier(), Method::Bye).len(), 1, "declined");
        } else {
            assert_eq!(screen_said(&sim), ["vm-incorrect", "followme-pin"]);
        }
    }
}

#[test]
fn a_pin_check_cut_short_by_the_caller_counts_once_and_frees_its_place() {
    let mut cfg = config();
    cfg.vm.pin_guard.max_failures = 2;
    let mut sim = Sim::with(cfg);
    let (mut alice, bob) = follow_me(&mut sim);
    sim.accounts.get_mut("101").unwrap().follow_me_pin = true;
    sim.pins.insert("101".into(), "4321".into());
    // Twice: a PIN entered, and the caller hangs up while it is being checked.
    sim.hold_pin = true;
    for n in 0..2u32 {
        let (_, call_id) = sim.dial(&mut alice, "101");
        sim.reply(&bob, Method::Invite, 180, "");
        sim.reply(&carrier(), Method::Invite, 200, OFFER);
        let call = sim.screens.last().unwrap().0;
        keys(&mut sim, call, "1111#");
        let cancel = alice.request("CANCEL", "sip:101@parley", "101", &call_id, 1, "", "");
        sim.send(cancel, alice.target());
        assert_eq!(sim.sent_to(&carrier(), Method::Bye).len() as u32, n + 1);
    }
    // Two abandoned checks count as two wrong PINs: locked for now...
    sim.hold_pin = false;
    let (tx, _) = sim.dial(&mut alice, "101");
    sim.reply(&carrier(), Method::Invite, 200, OFFER);
    let call = sim.screens.last().unwrap().0;
    keys(&mut sim, call, "4321#");
    assert!(
        sim.final_on(tx).is_none(),
        "locked: even the right PIN is refused"
    );
    // ...and, their places freed, the lockout ends with its time: the right PIN answers.
    sim.advance(Duration::from_secs(30 * 60));
    let (tx, _) = sim.dial(&mut alice, "101");
    sim.reply(&carrier(), Method::Invite, 200, OFFER);
    let call = sim.screens.last().unwrap().0;
    keys(&mut sim, call, "4321#");
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
}
