//! Call routes in the simulated switch: a presence's connection attempts ring their destinations at
//! once and in turn, a phone in two attempts keeps ringing, the Finally route takes the call to
//! voicemail, another user (whose own route applies) or a refusal, and a loop of forwards stops.

use super::*;
use crate::routing::{Attempt, CallRoute, Destination, Finally, Presence};

fn carol(sim: &mut Sim) -> Phone {
    let mut carol = Phone::new("102", 4);
    assert_eq!(sim.register(&mut carol, 3600), 200);
    carol
}

fn attempt(destinations: &[Destination], secs: u32) -> Attempt {
    Attempt {
        destinations: destinations.to_vec(),
        ring_secs: Some(secs),
    }
}

fn ext(e: &str) -> Destination {
    Destination::Extension(e.into())
}

/// `user`'s route for its current presence.
fn route(sim: &mut Sim, user: &str, route: CallRoute) {
    let r = &mut sim.accounts.get_mut(user).unwrap().routing;
    r.routes.insert(r.presence, route);
}

#[test]
fn two_destinations_ring_at_once_and_the_first_to_answer_wins() {
    let mut sim = Sim::new();
    let (mut alice, bob) = two_phones(&mut sim);
    let carol = carol(&mut sim);
    route(
        &mut sim,
        "101",
        CallRoute {
            attempts: vec![attempt(&[Destination::Handsets, ext("102")], 20)],
            finally: Finally::Voicemail,
        },
    );
    let (tx, call_id) = sim.dial(&mut alice, "101");
    assert_eq!(sim.sent_to(&bob, Method::Invite).len(), 1);
    assert_eq!(sim.sent_to(&carol, Method::Invite).len(), 1, "at once");
    sim.reply(&bob, Method::Invite, 180, "");
    sim.reply(&carol, Method::Invite, 180, "");
    sim.reply(&carol, Method::Invite, 200, OFFER);
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    assert_eq!(
        sim.sent_to(&bob, Method::Cancel).len(),
        1,
        "the other is cancelled"
    );
    // The record says how: by 101's route, answered by 102.
    sim.hang_up(&mut alice, tx, &call_id);
    let r = sim.records.last().unwrap();
    assert_eq!(
        (
            r.callee.as_str(),
            r.routed_by.as_deref(),
            r.answered_by.as_deref()
        ),
        ("101", Some("101"), Some("102"))
    );
}

#[test]
fn the_next_attempt_rings_when_the_first_rang_out_and_then_the_caller_leaves_a_message() {
    let mut sim = Sim::new();
    let (mut alice, bob) = two_phones(&mut sim);
    let carol = carol(&mut sim);
    route(
        &mut sim,
        "101",
        CallRoute {
            attempts: vec![
                attempt(&[Destination::Handsets], 10),
                attempt(&[ext("102")], 15),
            ],
            finally: Finally::Voicemail,
        },
    );
    let (tx, _) = sim.dial(&mut alice, "101");
    sim.reply(&bob, Method::Invite, 180, "");
    assert!(sim.sent_to(&carol, Method::Invite).is_empty(), "not yet");
    sim.advance(Duration::from_secs(10));
    assert_eq!(
        sim.sent_to(&bob, Method::Cancel).len(),
        1,
        "the first attempt is over"
    );
    assert_eq!(sim.sent_to(&carol, Method::Invite).len(), 1);
    assert!(sim.final_on(tx).is_none(), "the caller is still ringing");
    sim.reply(&carol, Method::Invite, 180, "");
    sim.advance(Duration::from_secs(15));
    assert_eq!(sim.sent_to(&carol, Method::Cancel).len(), 1);
    // Finally: 101's voicemail, with the caller's leg as it was.
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    assert_eq!(sim.deposits(), ["voicemail 101"]);
}

#[test]
fn a_phone_in_two_attempts_keeps_ringing_and_an_attempt_that_refuses_gives_way_at_once() {
    let mut sim = Sim::new();
    let (mut alice, bob) = two_phones(&mut sim);
    let carol = carol(&mut sim);
    route(
        &mut sim,
        "101",
        CallRoute {
            attempts: vec![
                attempt(&[Destination::Handsets], 10),
                attempt(&[Destination::Handsets, ext("102")], 10),
            ],
            finally: Finally::HangUp,
        },
    );
    let (tx, _) = sim.dial(&mut alice, "101");
    sim.reply(&bob, Method::Invite, 180, "");
    sim.advance(Duration::from_secs(10));
    assert!(
        sim.sent_to(&bob, Method::Cancel).is_empty(),
        "bob's phone rings on"
    );
    assert_eq!(
        sim.sent_to(&bob, Method::Invite).len(),
        1,
        "and is not rung again"
    );
    assert_eq!(sim.sent_to(&carol, Method::Invite).len(), 1);
    sim.reply(&bob, Method::Invite, 200, OFFER);
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    // An attempt whose phones all refuse gives way to the next at once: 486 from bob, then carol.
    let mut sim = Sim::new();
    let (mut alice, bob) = two_phones(&mut sim);
    let carol = self::carol(&mut sim);
    route(
        &mut sim,
        "101",
        CallRoute {
            attempts: vec![
                attempt(&[Destination::Handsets], 30),
                attempt(&[ext("102")], 30),
            ],
            finally: Finally::HangUp,
        },
    );
    let (tx, _) = sim.dial(&mut alice, "101");
    sim.reply(&bob, Method::Invite, 486, "");
    assert_eq!(sim.sent_to(&carol, Method::Invite).len(), 1);
    sim.reply(&carol, Method::Invite, 180, "");
    // Finally: hang up. The caller hears that nobody is there; the record says so.
    sim.advance(Duration::from_secs(30));
    assert_eq!(sim.final_on(tx).unwrap().status, 480);
    assert_eq!(sim.sent_to(&carol, Method::Cancel).len(), 1);
    sim.reply(&carol, Method::Invite, 487, "");
    assert_eq!(sim.records.last().unwrap().outcome, Outcome::NoAnswer);
    assert!(sim.deposits().is_empty());
}

#[test]
fn finally_another_user_rings_that_users_route_with_the_callers_dialog() {
    let mut sim = Sim::new();
    let (mut alice, bob) = two_phones(&mut sim);
    let carol = carol(&mut sim);
    route(
        &mut sim,
        "101",
        CallRoute {
            attempts: vec![attempt(&[Destination::Handsets], 10)],
            finally: Finally::Extension("102".into()),
        },
    );
    let (tx, _) = sim.dial(&mut alice, "101");
    sim.reply(&bob, Method::Invite, 180, "");
    let ringing_tag = sim
        .responses
        .iter()
        .find(|(t, r)| *t == tx && r.status == 180)
        .map(|(_, r)| r.headers.to().unwrap().tag().unwrap().to_string())
        .unwrap();
    sim.advance(Duration::from_secs(10));
    assert_eq!(
        sim.sent_to(&carol, Method::Invite).len(),
        1,
        "carol's phones"
    );
    sim.reply(&carol, Method::Invite, 200, OFFER);
    let ok = sim.final_on(tx).unwrap();
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.headers.to().unwrap().tag(),
        Some(ringing_tag.as_str()),
        "one dialog for the caller"
    );
    assert_eq!(sim.sw.view(sim.now).calls[0].callee, "102");
}

#[test]
fn a_loop_of_forwards_ends_in_voicemail_without_ringing_a_phone_twice() {
    let mut sim = Sim::new();
    let (mut alice, bob) = two_phones(&mut sim);
    let carol = carol(&mut sim);
    for (user, next) in [("101", "102"), ("102", "101")] {
        route(
            &mut sim,
            user,
            CallRoute {
                attempts: vec![attempt(&[Destination::Handsets], 10)],
                finally: Finally::Extension(next.into()),
            },
        );
    }
    let (tx, _) = sim.dial(&mut alice, "101");
    sim.advance(Duration::from_secs(10));
    assert_eq!(sim.sent_to(&carol, Method::Invite).len(), 1);
    sim.advance(Duration::from_secs(10));
    // 102 forwards back to 101, where the call has been: it stops, in 102's voicemail.
    assert_eq!(
        sim.sent_to(&bob, Method::Invite).len(),
        1,
        "bob is not rung again"
    );
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    assert_eq!(sim.deposits(), ["voicemail 102"]);
}

#[test]
fn the_presence_chooses_the_route_of_the_next_call() {
    let mut sim = Sim::new();
    let (mut alice, bob) = two_phones(&mut sim);
    let carol = carol(&mut sim);
    let r = &mut sim.accounts.get_mut("101").unwrap().routing;
    r.routes.insert(
        Presence::Away,
        CallRoute {
            attempts: vec![attempt(&[ext("102")], 20)],
            finally: Finally::Voicemail,
        },
    );
    sim.dial(&mut alice, "101");
    assert_eq!(
        sim.sent_to(&bob, Method::Invite).len(),
        1,
        "In Office: the default route"
    );
    sim.accounts.get_mut("101").unwrap().routing.presence = Presence::Away;
    sim.dial(&mut alice, "101");
    assert_eq!(sim.sent_to(&bob, Method::Invite).len(), 1);
    assert_eq!(sim.sent_to(&carol, Method::Invite).len(), 1, "Away: carol");
    // With nobody to ring (carol unregistered), the Finally route at once.
    let mut sim = Sim::new();
    let (mut alice, _) = two_phones(&mut sim);
    let r = &mut sim.accounts.get_mut("101").unwrap().routing;
    r.presence = Presence::Away;
    r.routes.insert(
        Presence::Away,
        CallRoute {
            attempts: vec![attempt(&[ext("102")], 20)],
            finally: Finally::Voicemail,
        },
    );
    let (tx, _) = sim.dial(&mut alice, "101");
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    assert_eq!(sim.deposits(), ["voicemail 101"]);
}

#[test]
fn a_busy_user_s_calls_follow_the_on_busy_route_and_end_at_the_busy_greeting() {
    let mut sim = Sim::new();
    sim.accounts.insert("103".into(), account("Dave"));
    sim.passwords.insert("103".into(), "secret103".into());
    let (mut alice, bob) = two_phones(&mut sim);
    let mut carol = carol(&mut sim);
    let mut dave = Phone::new("103", 5);
    assert_eq!(sim.register(&mut dave, 3600), 200);
    let busy_route = CallRoute {
        attempts: vec![attempt(&[ext("103")], 10)],
        finally: Finally::Voicemail,
    };
    sim.accounts
        .get_mut("101")
        .unwrap()
        .routing
        .on_busy
        .insert(Presence::InOffice, busy_route);
    // Not on a call: the ordinary route.
    let (tx, _) = sim.dial(&mut alice, "101");
    assert!(sim.sent_to(&dave, Method::Invite).is_empty());
    sim.reply(&bob, Method::Invite, 200, OFFER);
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    // On a call: 103 rings instead of bob's phone, then bob's voicemail greets as busy.
    let (tx, _) = sim.dial(&mut carol, "101");
    assert_eq!(
        sim.sent_to(&bob, Method::Invite).len(),
        1,
        "bob's phone is not rung"
    );
    assert_eq!(sim.sent_to(&dave, Method::Invite).len(), 1);
    sim.reply(&dave, Method::Invite, 180, "");
    sim.advance(Duration::from_secs(10));
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    let vm = *sim.voicemail_calls().last().unwrap();
    let (_, audio) = sim.last_play(vm).unwrap();
    assert!(
        audio.contains(&prompt("vm-isonphone")),
        "the busy greeting: {audio:?}"
    );
}

#[test]
fn a_caller_id_route_takes_the_calls_of_one_internal_caller() {
    let mut sim = Sim::new();
    let (mut alice, bob) = two_phones(&mut sim);
    let mut carol = carol(&mut sim);
    sim.accounts.get_mut("101").unwrap().routing.callers.insert(
        Presence::InOffice,
        vec![crate::routing::CallerRoute {
            caller: crate::routing::CallerMatch::Internal("100".into()),
            route: CallRoute {
                attempts: vec![attempt(&[ext("102")], 10)],
                finally: Finally::HangUp,
            },
        }],
    );
    sim.dial(&mut alice, "101");
    assert!(
        sim.sent_to(&bob, Method::Invite).is_empty(),
        "alice's calls go to carol"
    );
    assert_eq!(sim.sent_to(&carol, Method::Invite).len(), 1);
    sim.dial(&mut carol, "101");
    assert_eq!(
        sim.sent_to(&bob, Method::Invite).len(),
        1,
        "carol's ring bob"
    );
}

#[test]
fn the_presence_code_sets_the_presence_says_it_and_the_next_call_follows_it() {
    let mut sim = Sim::new();
    let (mut alice, mut bob) = two_phones(&mut sim);
    let carol = carol(&mut sim);
    sim.accounts.get_mut("101").unwrap().routing.routes.insert(
        Presence::Away,
        CallRoute {
            attempts: vec![attempt(&[ext("102")], 20)],
            finally: Finally::Voicemail,
        },
    );
    // Bob dials *80 and 6 (Away): Parley answers, says so and hangs up.
    let (tx, call_id) = sim.dial(&mut bob, "*806");
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    let vm = *sim.voicemail_calls().last().unwrap();
    assert_eq!(
        sim.last_play(vm).unwrap().1,
        [prompt("presence-now"), prompt("presence-away")]
    );
    assert_eq!(sim.accounts["101"].routing.presence, Presence::Away);
    sim.play_done(vm);
    assert!(
        sim.sent_to(&bob, Method::Bye).is_empty(),
        "not before it played out"
    );
    sim.advance(crate::vm::HANGUP_LINGER);
    assert!(sim
        .sent_to(&bob, Method::Bye)
        .iter()
        .any(|s| s.request.call_id() == call_id));
    let record = sim.records.last().unwrap();
    assert_eq!(
        (record.callee.as_str(), record.outcome),
        ("*806", Outcome::Feature)
    );
    // Alice's next call to Bob follows the Away route: Carol rings, Bob's phone does not.
    let before = sim.sent_to(&bob, Method::Invite).len();
    sim.dial(&mut alice, "101");
    assert_eq!(sim.sent_to(&carol, Method::Invite).len(), 1);
    assert_eq!(sim.sent_to(&bob, Method::Invite).len(), before);
    // A digit that names no presence, or more digits, is no feature code: 404 like any unknown number.
    for dialled in ["*808", "*80", "*8012"] {
        let (tx, _) = sim.dial(&mut bob, dialled);
        assert_eq!(sim.final_on(tx).unwrap().status, 404, "{dialled}");
    }
    assert_eq!(sim.accounts["101"].routing.presence, Presence::Away);
}

#[test]
fn voicemail_with_transfer_offers_0_and_refers_the_caller_to_the_target_not_the_operator() {
    let mut cfg = config();
    cfg.vm.operator = Some("100".into());
    let mut sim = Sim::with(cfg);
    let (mut alice, _bob) = two_phones(&mut sim);
    route(
        &mut sim,
        "101",
        CallRoute {
            attempts: Vec::new(),
            finally: Finally::VoicemailTransfer("102".into()),
        },
    );
    let (tx, _) = sim.dial(&mut alice, "101");
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    assert_eq!(sim.deposits(), ["voicemail 101"]);
    let vm = sim.voicemail_calls()[0];
    assert!(sim
        .last_play(vm)
        .unwrap()
        .1
        .contains(&prompt("vm-intro-transfer")));
    sim.keys(vm, "0");
    let refer = sim.sent_to(&alice, Method::Refer).pop().expect("a REFER");
    let to = refer.request.headers.get("Refer-To").unwrap().to_string();
    assert!(to.contains("sip:102@"), "{to}");
}
