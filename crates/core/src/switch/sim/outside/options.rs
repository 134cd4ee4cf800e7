//! A trunk's options in the simulated switch: the OPTIONS keep-alive that marks a carrier down, the
//! number format and caller-ID header the carrier wants, the anonymous prefix, codecs, number
//! patterns and the most calls a trunk carries; and the call records of calls in and out.

use super::*;
use crate::switch::Direction;
use crate::trunk::{CallerIdHeader, Codec, NumberFormat, NumberPattern, TrunkOptions};

const BACKUP: &str = "192.0.2.60:5060";

fn at(addr: &str) -> Phone {
    Phone {
        addr: addr.parse().unwrap(),
        ..carrier()
    }
}

fn patterns(list: &[&str]) -> Vec<NumberPattern> {
    list.iter()
        .map(|p| NumberPattern::new(p).unwrap())
        .collect()
}

/// A phone that may dial anywhere, with trunks `trunks`.
fn with_trunks(trunks: Vec<TrunkConfig>) -> (Sim, Phone, Phone) {
    let mut sim = Sim::new();
    let (alice, bob) = two_phones(&mut sim);
    sim.accounts.get_mut("100").unwrap().dial_class = DialClass::International;
    // These tests leave calls ringing: no toll-fraud limit (0: none) gets in their way.
    sim.sw.config.outside.limits = crate::trunk::limits::OutsideLimits {
        per_user: 0,
        total: 0,
        per_user_hour: 0,
        total_hour: 0,
    };
    sim.sw.set_trunks(sim.now, trunks);
    sim.run();
    (sim, alice, bob)
}

/// The keep-alive probes the switch sent to `to`, and answer the last with `status` (`None`: its
/// transaction times out).
fn answer_probe(sim: &mut Sim, to: &Phone, status: Option<u16>) {
    let probe = sim.sent_to(to, Method::Options).pop().expect("a probe");
    match status {
        Some(s) => {
            let r = answer(&probe.request, s, "k", "");
            sim.sw.handle_response(sim.now, &probe.route, r);
        }
        None => sim
            .sw
            .handle_client_done(sim.now, probe.route.clone(), false),
    }
    sim.run();
}

fn state(sim: &Sim, trunk: &str) -> String {
    let v = sim.sw.view(sim.now);
    v.trunks
        .iter()
        .find(|t| t.name == trunk)
        .unwrap()
        .state
        .clone()
}

#[test]
fn a_trunk_whose_options_go_unanswered_is_down_and_skipped_until_it_answers_again() {
    let keep = TrunkOptions {
        keepalive: Some(Duration::from_secs(30)),
        ..TrunkOptions::default()
    };
    let (mut sim, mut alice, _) = with_trunks(vec![
        peer("a-main", CARRIER, keep.clone()),
        peer("b-backup", BACKUP, TrunkOptions::default()),
    ]);
    let (main, backup) = (carrier(), at(BACKUP));
    // The first probe goes at once, to the carrier's address, as an OPTIONS out of any dialog.
    let probes = sim.sent_to(&main, Method::Options);
    assert_eq!(probes.len(), 1);
    assert_eq!(probes[0].request.uri.to_string(), "sip:192.0.2.50");
    assert!(
        sim.sent_to(&backup, Method::Options).is_empty(),
        "no keep-alive asked"
    );
    answer_probe(&mut sim, &main, Some(200));
    assert_eq!(state(&sim, "a-main"), "peer");
    // Two go unanswered (a timeout, then a 503): down.
    sim.advance(Duration::from_secs(30));
    answer_probe(&mut sim, &main, None);
    assert_eq!(state(&sim, "a-main"), "peer", "one failure is not enough");
    sim.advance(Duration::from_secs(30));
    answer_probe(&mut sim, &main, Some(503));
    assert_eq!(state(&sim, "a-main"), "down");
    assert_eq!(sim.sent_to(&main, Method::Options).len(), 3);
    let (tx, _) = sim.dial(&mut alice, "95855550123");
    assert!(sim.sent_to(&main, Method::Invite).is_empty(), "skipped");
    assert_eq!(sim.sent_to(&backup, Method::Invite).len(), 1);
    sim.reply(&backup, Method::Invite, 200, OFFER);
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    // Probes go on while it is down; one answer brings it back, and the next call takes it.
    sim.advance(Duration::from_secs(30));
    answer_probe(&mut sim, &main, Some(200));
    assert_eq!(state(&sim, "a-main"), "peer");
    sim.dial(&mut alice, "95855550124");
    assert_eq!(sim.sent_to(&main, Method::Invite).len(), 1);
}

#[test]
fn numbers_and_the_caller_id_are_written_as_the_trunk_asks_and_the_anonymous_prefix_hides_the_number(
) {
    let national_pai = TrunkOptions {
        number_format: NumberFormat::National,
        caller_id: CallerIdHeader::Pai,
        ..TrunkOptions::default()
    };
    let (mut sim, mut alice, _) = with_trunks(vec![peer("carrier", CARRIER, national_pai)]);
    let main = carrier();
    sim.dial(&mut alice, "95855550123");
    let invite = sim.sent_to(&main, Method::Invite).pop().unwrap().request;
    assert_eq!(invite.uri.to_string(), "sip:5855550123@192.0.2.50");
    assert_eq!(user(&invite, "To"), "5855550123");
    assert_eq!(user(&invite, "From"), "5855550100");
    assert_eq!(user(&invite, "P-Asserted-Identity"), "5855550100");
    assert!(invite.headers.get("Privacy").is_none());
    // International, in the national format: with the home country's international prefix.
    sim.dial(&mut alice, "9011442079460123");
    let invite = sim.sent_to(&main, Method::Invite).pop().unwrap().request;
    assert_eq!(invite.uri.to_string(), "sip:011442079460123@192.0.2.50");
    // *67: the far end sees nobody, the carrier still gets the number to bill and route.
    sim.dial(&mut alice, "*6795855550125");
    let invite = sim.sent_to(&main, Method::Invite).pop().unwrap().request;
    assert_eq!(invite.uri.to_string(), "sip:5855550125@192.0.2.50");
    let from = invite.headers.get("From").unwrap();
    assert!(
        from.starts_with("\"Anonymous\" <sip:anonymous@anonymous.invalid>;tag="),
        "{from}"
    );
    assert_eq!(invite.headers.get("Privacy"), Some("id"));
    assert_eq!(user(&invite, "P-Asserted-Identity"), "5855550100");
    assert!(
        !invite
            .headers
            .get("Contact")
            .unwrap()
            .contains("5855550100"),
        "the number is nowhere else"
    );
    // Remote-Party-ID, in E.164 without the `+`.
    let rpid = TrunkOptions {
        number_format: NumberFormat::Digits,
        caller_id: CallerIdHeader::Rpid,
        ..TrunkOptions::default()
    };
    sim.sw
        .set_trunks(sim.now, vec![peer("carrier", CARRIER, rpid)]);
    sim.run();
    sim.dial(&mut alice, "95855550126");
    let invite = sim.sent_to(&main, Method::Invite).pop().unwrap().request;
    assert_eq!(invite.uri.to_string(), "sip:15855550126@192.0.2.50");
    assert_eq!(user(&invite, "From"), "15855550100");
    let r = invite.headers.get("Remote-Party-ID").unwrap();
    assert!(
        r.contains("<sip:15855550100@192.0.2.50>;party=calling;privacy=off"),
        "{r}"
    );
    sim.dial(&mut alice, "*6795855550127");
    let invite = sim.sent_to(&main, Method::Invite).pop().unwrap().request;
    let r = invite.headers.get("Remote-Party-ID").unwrap();
    assert!(r.contains("privacy=full"), "{r}");
    assert!(invite.headers.get("P-Asserted-Identity").is_none());
    // An emergency call always shows the number, whatever was dialled first.
    sim.dial(&mut alice, "*67911");
    let invite = sim.sent_to(&main, Method::Invite).pop().unwrap().request;
    assert_eq!(invite.uri.to_string(), "sip:911@192.0.2.50");
    assert_eq!(user(&invite, "From"), "15855550100");
    assert!(invite.headers.get("Privacy").is_none());
}

#[test]
fn patterns_choose_the_trunk_with_the_longest_match_first_and_a_number_none_carries_gets_503() {
    let uk = TrunkOptions {
        patterns: patterns(&["+44"]),
        ..TrunkOptions::default()
    };
    let local = TrunkOptions {
        patterns: patterns(&["+1585", "+1716"]),
        ..TrunkOptions::default()
    };
    let (mut sim, mut alice, _) = with_trunks(vec![
        peer("a-uk", CARRIER, uk),
        peer("b-local", BACKUP, local),
    ]);
    let (uk, local) = (carrier(), at(BACKUP));
    sim.dial(&mut alice, "9011442079460123");
    assert_eq!(sim.sent_to(&uk, Method::Invite).len(), 1);
    sim.dial(&mut alice, "95855550123");
    assert_eq!(sim.sent_to(&local, Method::Invite).len(), 1);
    assert_eq!(sim.sent_to(&uk, Method::Invite).len(), 1);
    let (tx, _) = sim.dial(&mut alice, "92125550123");
    assert_eq!(
        refused(&sim, tx),
        (503, "No Outside Line Available".into()),
        "New York is on neither trunk"
    );
    // A trunk for everything comes after those that match more digits, and takes over when the
    // better one fails.
    let third = "192.0.2.70:5060";
    let mut trunks = vec![
        peer("a-any", third, TrunkOptions::default()),
        peer(
            "b-local",
            BACKUP,
            TrunkOptions {
                patterns: patterns(&["+1585"]),
                ..TrunkOptions::default()
            },
        ),
    ];
    trunks.push(peer(
        "c-us",
        CARRIER,
        TrunkOptions {
            patterns: patterns(&["+1"]),
            ..TrunkOptions::default()
        },
    ));
    sim.sw.set_trunks(sim.now, trunks);
    sim.run();
    let any = at(third);
    let (tx, _) = sim.dial(&mut alice, "95855550124");
    assert_eq!(sim.sent_to(&local, Method::Invite).len(), 2, "+1585 first");
    sim.reply(&local, Method::Invite, 503, "");
    assert_eq!(sim.sent_to(&uk, Method::Invite).len(), 2, "then +1");
    sim.reply(&uk, Method::Invite, 503, "");
    assert_eq!(sim.sent_to(&any, Method::Invite).len(), 1, "then any");
    sim.reply(&any, Method::Invite, 200, OFFER);
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    // Emergency numbers go through whatever the patterns say: with only a trunk for the UK, 911
    // still goes out through it.
    sim.sw.set_trunks(
        sim.now,
        vec![peer(
            "a-uk",
            CARRIER,
            TrunkOptions {
                patterns: patterns(&["+44"]),
                ..TrunkOptions::default()
            },
        )],
    );
    sim.run();
    let before = sim.sent_to(&uk, Method::Invite).len();
    let (tx, _) = sim.dial(&mut alice, "911");
    assert!(sim.final_on(tx).is_none());
    let out = sim.sent_to(&uk, Method::Invite);
    assert_eq!(out.len(), before + 1);
    assert_eq!(
        out.last().unwrap().request.uri.to_string(),
        "sip:911@192.0.2.50"
    );
}

#[test]
fn a_trunk_carrying_its_most_calls_is_skipped_and_refuses_calls_from_it_until_one_ends() {
    let one = TrunkOptions {
        max_calls: Some(1),
        ..TrunkOptions::default()
    };
    let (mut sim, mut alice, bob) = with_trunks(vec![
        peer("a-main", CARRIER, one),
        peer("b-backup", BACKUP, TrunkOptions::default()),
    ]);
    sim.sw.set_dids(vec![crate::trunk::Did {
        number: "+15855550101".into(),
        target: crate::trunk::DidTarget::Extension("101".into()),
    }]);
    let (main, backup) = (carrier(), at(BACKUP));
    let (first, first_id) = sim.dial(&mut alice, "95855550123");
    assert_eq!(sim.sent_to(&main, Method::Invite).len(), 1);
    sim.reply(&main, Method::Invite, 200, OFFER);
    assert_eq!(sim.final_on(first).unwrap().status, 200);
    let v = sim.sw.view(sim.now);
    assert_eq!(v.trunks.iter().map(|t| t.calls).collect::<Vec<_>>(), [1, 0]);
    // The second call goes through the backup.
    sim.dial(&mut alice, "95855550124");
    assert_eq!(sim.sent_to(&main, Method::Invite).len(), 1);
    assert_eq!(sim.sent_to(&backup, Method::Invite).len(), 1);
    // A call from the full trunk is refused; one from the other is not.
    let mut m = main.clone();
    let (_, r) = from_outside(&mut sim, &mut m, "+15855550999", "+15855550101");
    let r = r.unwrap();
    assert_eq!(
        (r.status.as_u16(), r.reason.as_str()),
        (503, "Too Many Calls On This Trunk")
    );
    assert!(sim.sent_to(&bob, Method::Invite).is_empty());
    // The first call ends: the trunk takes calls again.
    sim.hang_up(&mut alice, first, &first_id);
    let mut m = main.clone();
    m.n = 10;
    let (_, r) = from_outside(&mut sim, &mut m, "+15855550999", "+15855550101");
    assert!(r.is_none(), "rings");
    assert_eq!(sim.sent_to(&bob, Method::Invite).len(), 1);
}

#[test]
fn a_trunk_is_offered_only_its_codecs_and_a_phone_offering_none_of_them_gets_488() {
    let alaw = TrunkOptions {
        codecs: vec![Codec::Pcma],
        ..TrunkOptions::default()
    };
    let (mut sim, mut alice, _) = with_trunks(vec![peer("carrier", CARRIER, alaw)]);
    let both = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
    let req = alice.request(
        "INVITE",
        "sip:95855550123@parley",
        "95855550123",
        "codecs-1",
        1,
        "Content-Type: application/sdp\r\n",
        both,
    );
    let password = alice.password.clone();
    sim.send_authorized(&mut alice, req, &password);
    let invite = sim
        .sent_to(&carrier(), Method::Invite)
        .pop()
        .unwrap()
        .request;
    let body = String::from_utf8_lossy(&invite.body).to_string();
    assert!(body.contains("m=audio 40002 RTP/AVP 8 101\r\n"), "{body}");
    assert!(!body.contains("PCMU"), "{body}");
    // Answered in A-law; a re-INVITE from the phone offering µ-law only is refused with 488, not
    // passed to the carrier without a codec.
    sim.reply(
        &carrier(),
        Method::Invite,
        200,
        &OFFER.replace("RTP/AVP 0 101", "RTP/AVP 8 101"),
    );
    let to = sim
        .responses
        .iter()
        .rev()
        .find(|(_, r)| r.headers.get("Call-ID") == Some("codecs-1") && r.status == 200)
        .map(|(_, r)| r.headers.get("To").unwrap().to_string())
        .unwrap();
    let mut reinvite = alice.request(
        "INVITE",
        "sip:95855550123@parley",
        "95855550123",
        "codecs-1",
        2,
        "Content-Type: application/sdp\r\n",
        OFFER,
    );
    reinvite.headers.set("To", &to);
    let (_, r) = sim.send(reinvite, alice.target());
    assert_eq!(r.unwrap().status, 488);
    assert_eq!(
        sim.sent_to(&carrier(), Method::Invite).len(),
        1,
        "nothing to the carrier"
    );
    // µ-law only (the simulation's usual offer): no trunk takes it.
    let (tx, _) = sim.dial(&mut alice, "95855550124");
    assert_eq!(
        refused(&sim, tx),
        (488, "No Outside Line Takes These Codecs".into())
    );
    assert_eq!(sim.sent_to(&carrier(), Method::Invite).len(), 1);
    // An emergency call goes out all the same, with the phone's codecs.
    let (tx, _) = sim.dial(&mut alice, "911");
    assert!(sim.final_on(tx).is_none());
    let invite = sim
        .sent_to(&carrier(), Method::Invite)
        .pop()
        .unwrap()
        .request;
    assert_eq!(invite.uri.to_string(), "sip:911@192.0.2.50");
    assert!(String::from_utf8_lossy(&invite.body).contains("RTP/AVP 0 101"));
}

#[test]
fn a_burst_of_calls_from_a_full_trunk_cannot_outrun_its_limit() {
    let two = TrunkOptions {
        max_calls: Some(2),
        ..TrunkOptions::default()
    };
    let (mut sim, _alice, _bob) = with_trunks(vec![peer("carrier", CARRIER, two)]);
    sim.sw.set_dids(vec![crate::trunk::Did {
        number: "+15855550101".into(),
        target: crate::trunk::DidTarget::Extension("101".into()),
    }]);
    // The directory is slow: five INVITEs arrive while the first are still being looked up.
    sim.hold = true;
    let mut c = carrier();
    let answers: Vec<_> = (0..5)
        .map(|_| from_outside(&mut sim, &mut c, "+15855550999", "+15855550101").1)
        .collect();
    let refused: Vec<_> = answers
        .iter()
        .map(|r| r.as_ref().map(|r| r.status.as_u16()))
        .collect();
    assert_eq!(refused, [None, None, Some(503), Some(503), Some(503)]);
    sim.hold = false;
    sim.release();
    assert_eq!(sim.sw.view(sim.now).trunks[0].calls, 2);
}

#[test]
fn failover_skips_a_trunk_that_went_down_or_filled_up_while_the_call_rang() {
    let keep = TrunkOptions {
        keepalive: Some(Duration::from_secs(10)),
        ..TrunkOptions::default()
    };
    let third = "192.0.2.70:5060";
    let (mut sim, mut alice, _) = with_trunks(vec![
        peer("a-main", CARRIER, TrunkOptions::default()),
        peer("b-backup", BACKUP, keep),
        peer("c-last", third, TrunkOptions::default()),
    ]);
    let (main, backup, last) = (carrier(), at(BACKUP), at(third));
    answer_probe(&mut sim, &backup, Some(200));
    let (tx, _) = sim.dial(&mut alice, "95855550123");
    assert_eq!(sim.sent_to(&main, Method::Invite).len(), 1);
    // While it rings, the backup stops answering its keep-alive.
    for _ in 0..2 {
        sim.advance(Duration::from_secs(10));
        answer_probe(&mut sim, &backup, Some(503));
    }
    assert_eq!(state(&sim, "b-backup"), "down");
    sim.reply(&main, Method::Invite, 503, "");
    assert!(
        sim.sent_to(&backup, Method::Invite).is_empty(),
        "down: skipped"
    );
    assert_eq!(sim.sent_to(&last, Method::Invite).len(), 1);
    sim.reply(&last, Method::Invite, 200, OFFER);
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
}

#[test]
fn changing_a_down_trunks_other_settings_leaves_it_down_until_it_answers() {
    let keep = TrunkOptions {
        keepalive: Some(Duration::from_secs(10)),
        ..TrunkOptions::default()
    };
    let (mut sim, _, _) = with_trunks(vec![peer("carrier", CARRIER, keep.clone())]);
    let main = carrier();
    answer_probe(&mut sim, &main, Some(503));
    sim.advance(Duration::from_secs(10));
    answer_probe(&mut sim, &main, Some(503));
    assert_eq!(state(&sim, "carrier"), "down");
    let probes = sim.sent_to(&main, Method::Options).len();
    // The administrator changes the most calls: the trunk stays down, no new probe at once.
    let changed = TrunkOptions {
        max_calls: Some(4),
        ..keep.clone()
    };
    sim.sw
        .set_trunks(sim.now, vec![peer("carrier", CARRIER, changed.clone())]);
    sim.run();
    assert_eq!(state(&sim, "carrier"), "down");
    assert_eq!(sim.sent_to(&main, Method::Options).len(), probes);
    // A new interval starts the keep-alive anew (its first probe at once).
    let faster = TrunkOptions {
        keepalive: Some(Duration::from_secs(5)),
        ..changed
    };
    sim.sw
        .set_trunks(sim.now, vec![peer("carrier", CARRIER, faster)]);
    sim.run();
    assert_eq!(sim.sent_to(&main, Method::Options).len(), probes + 1);
    answer_probe(&mut sim, &main, Some(200));
    assert_eq!(state(&sim, "carrier"), "peer");
}

#[test]
fn calls_in_and_out_are_recorded_with_their_direction_and_trunk() {
    let (mut sim, mut alice, bob) = with_trunks(vec![
        peer("a-main", CARRIER, TrunkOptions::default()),
        peer("b-backup", BACKUP, TrunkOptions::default()),
    ]);
    sim.sw.set_dids(vec![crate::trunk::Did {
        number: "+15855550101".into(),
        target: crate::trunk::DidTarget::Extension("101".into()),
    }]);
    let backup = at(BACKUP);
    // Out: the first trunk fails, the backup answers; the record names the backup.
    let (tx, call_id) = sim.dial(&mut alice, "95855550123");
    sim.reply(&carrier(), Method::Invite, 503, "");
    sim.reply(&backup, Method::Invite, 200, OFFER);
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    sim.advance(Duration::from_secs(5));
    sim.hang_up(&mut alice, tx, &call_id);
    let r = sim.records.pop().unwrap();
    assert_eq!(
        (
            r.direction,
            r.trunk.as_deref(),
            r.callee.as_str(),
            r.outcome
        ),
        (
            Direction::Outbound,
            Some("b-backup"),
            "+15855550123",
            Outcome::Answered
        )
    );
    // Refused before a trunk rang: outbound, no trunk.
    sim.accounts.get_mut("100").unwrap().dial_class = DialClass::Internal;
    sim.dial(&mut alice, "95855550124");
    let r = sim.records.pop().unwrap();
    assert_eq!((r.direction, r.trunk), (Direction::Outbound, None));
    // In: through the main trunk to bob, who answers; the carrier hangs up.
    let mut c = carrier();
    let (tx, _) = from_outside(&mut sim, &mut c, "+442079460123", "+15855550101");
    sim.reply(&bob, Method::Invite, 200, OFFER);
    let to = sim
        .final_on(tx)
        .unwrap()
        .headers
        .get("To")
        .unwrap()
        .to_string();
    let bye = format!(
        "BYE sip:x@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP {CARRIER};branch=z9hG4bKbye\r\nFrom: <sip:+442079460123@carrier.example>;tag=c{n}\r\nTo: {to}\r\nCall-ID: in-{n}\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        n = c.n
    );
    let target = c.target();
    let (_, r) = sim.send(parse_request(&bye), target);
    assert_eq!(r.unwrap().status, 200);
    let r = sim.records.pop().unwrap();
    assert_eq!(
        (
            r.direction,
            r.trunk.as_deref(),
            r.caller.as_str(),
            r.callee.as_str()
        ),
        (Direction::Inbound, Some("a-main"), "+442079460123", "101")
    );
    // A number that is no DID, with no default: refused, recorded as from outside.
    from_outside(&mut sim, &mut c, "+442079460123", "+15855550777");
    let r = sim.records.pop().unwrap();
    assert_eq!(
        (r.direction, r.trunk.as_deref(), r.outcome),
        (Direction::Inbound, Some("a-main"), Outcome::Failed)
    );
    // An internal call stays internal.
    let (tx, call_id) = sim.dial(&mut alice, "101");
    sim.reply(&bob, Method::Invite, 200, OFFER);
    sim.hang_up(&mut alice, tx, &call_id);
    let r = sim.records.pop().unwrap();
    assert_eq!((r.direction, r.trunk), (Direction::Internal, None));
}

#[test]
fn a_local_caller_reaches_the_companys_area_code_and_nothing_further() {
    let (mut sim, mut alice, _) =
        with_trunks(vec![peer("carrier", CARRIER, TrunkOptions::default())]);
    sim.sw.config.outside.dialplan.home_area = crate::trunk::dialplan::area_of("+15855550100");
    sim.accounts.get_mut("100").unwrap().dial_class = DialClass::Local;
    let (tx, _) = sim.dial(&mut alice, "95855550123");
    assert!(sim.final_on(tx).is_none(), "585 is local: it rings out");
    assert_eq!(sim.sent_to(&carrier(), Method::Invite).len(), 1);
    let (tx, _) = sim.dial(&mut alice, "97165550123");
    assert_eq!(
        refused(&sim, tx),
        (403, "national calls are not allowed".into())
    );
    let (tx, _) = sim.dial(&mut alice, "911");
    assert!(sim.final_on(tx).is_none(), "emergency calls always go out");
    assert_eq!(sim.sent_to(&carrier(), Method::Invite).len(), 2);
}
