//! The Conference Center in the simulated switch: a caller dials its extension, keys the Conference
//! ID and password and is placed in the room (the others hear the ding, and the dong when it leaves);
//! wrong IDs and passwords are asked again, then goodbye after three, and lock the caller and the
//! conference out across calls; a full conference and a server with every room in session refuse
//! with a prompt.

use super::*;
use crate::conference::{
    Conference, ConferenceConfig, ConferenceId, ConferencePassword, Kind, DEFAULT_UNSCHEDULED,
};

fn sim_with(conference: ConferenceConfig) -> Sim {
    let mut config = config();
    config.conference = conference;
    let mut sim = Sim::with(config);
    for id in DEFAULT_UNSCHEDULED {
        sim.conferences.insert(
            id.into(),
            Conference {
                id: ConferenceId::new(id).unwrap(),
                password: ConferencePassword::new(id).unwrap(),
                description: String::new(),
                kind: Kind::Unscheduled { enabled: true },
                seats: None,
            },
        );
    }
    sim
}

/// `user` (registered from 127.0.0.`octet`) dials the Conference Center: the call and its id.
fn dial_center(sim: &mut Sim, user: &str, octet: u8) -> (Phone, TxId, String, CallId) {
    let mut phone = Phone::new(user, octet);
    if sim
        .sw
        .view(sim.now)
        .registrations
        .iter()
        .all(|r| r.extension != user)
    {
        assert_eq!(sim.register(&mut phone, 3600), 200);
    }
    let (tx, call_id) = sim.dial(&mut phone, "4081");
    assert_eq!(sim.final_on(tx).unwrap().status, 200);
    let vm = *sim.voicemail_calls().last().unwrap();
    (phone, tx, call_id, vm)
}

fn heard(sim: &Sim, vm: CallId, p: &str) -> bool {
    sim.last_play(vm).unwrap().1.contains(&prompt(p))
}

/// Key the ID and the password, each after the prompt asking for it.
fn enter(sim: &mut Sim, vm: CallId, id: &str, password: &str) {
    sim.play_done(vm); // the welcome
    assert!(heard(sim, vm, "conf-getconfno"));
    sim.keys(vm, &format!("{id}#"));
    if heard(sim, vm, "conf-getpin") {
        sim.keys(vm, &format!("{password}#"));
    }
}

fn joined(sim: &Sim, vm: CallId) -> bool {
    sim.has_io(
        vm,
        |io| matches!(io, VmIo::JoinRoom { room, chime: true } if room.as_str() == "480"),
    )
}

#[test]
fn a_caller_keys_id_and_password_and_is_placed_in_the_conference_and_leaves_with_a_dong() {
    let mut sim = sim_with(ConferenceConfig::default());
    let (mut alice, tx, call_id, a) = dial_center(&mut sim, "100", 2);
    assert!(heard(&sim, a, "conf-welcome"));
    enter(&mut sim, a, "480", "480");
    assert!(sim.has_io(a, |io| *io
        == VmIo::LoadConference(ConferenceId::new("480").unwrap())));
    assert!(heard(&sim, a, "conf-placeintoconf") && heard(&sim, a, "conf-onlyperson"));
    assert!(
        !joined(&sim, a),
        "the audio goes in once the prompt has been said"
    );
    sim.play_done(a);
    assert!(joined(&sim, a));
    // In the room: keys do nothing and no timeout ends the call.
    sim.keys(a, "123#");
    sim.advance(Duration::from_secs(3600));
    let view = sim.sw.view(sim.now);
    assert_eq!(view.conferences.len(), 1);
    assert_eq!(view.conferences[0].id, "480");
    assert_eq!(view.conferences[0].participants[0].caller, "100");

    // Bob comes in second: not alone.
    let (_, _, _, b) = dial_center(&mut sim, "101", 3);
    enter(&mut sim, b, "480", "480");
    assert!(heard(&sim, b, "conf-placeintoconf") && !heard(&sim, b, "conf-onlyperson"));
    sim.play_done(b);
    assert_eq!(sim.sw.view(sim.now).conferences[0].participants.len(), 2);

    // Alice hangs up: her audio leaves the room with the dong, then her media closes.
    sim.hang_up(&mut alice, tx, &call_id);
    let ios: Vec<&VmIo> = sim
        .io
        .iter()
        .filter(|(c, _)| *c == a)
        .map(|(_, io)| io)
        .collect();
    let leave = ios
        .iter()
        .position(|io| **io == VmIo::LeaveRoom { chime: true });
    let close = ios.iter().position(|io| **io == VmIo::Close);
    assert!(leave.is_some() && leave < close, "{ios:?}");
    assert_eq!(sim.sw.view(sim.now).conferences[0].participants.len(), 1);
    assert_eq!(sim.records.last().unwrap().outcome, Outcome::Conference);
}

#[test]
fn wrong_ids_and_passwords_are_asked_again_then_goodbye_after_three() {
    let mut sim = sim_with(ConferenceConfig::default());
    let (_, _, _, a) = dial_center(&mut sim, "100", 2);
    enter(&mut sim, a, "999", "");
    assert!(heard(&sim, a, "conf-invalid") && !heard(&sim, a, "vm-goodbye"));
    sim.play_done(a);
    assert!(heard(&sim, a, "conf-getconfno"), "the ID is asked again");
    sim.keys(a, "480#");
    sim.keys(a, "1111#");
    assert!(heard(&sim, a, "conf-invalidpin"));
    sim.play_done(a);
    assert!(
        heard(&sim, a, "conf-getpin"),
        "the password is asked again, not the ID"
    );
    sim.keys(a, "2222#");
    assert!(heard(&sim, a, "conf-invalidpin") && heard(&sim, a, "vm-goodbye"));
    assert!(!joined(&sim, a));
    assert!(sim.sw.view(sim.now).conferences.is_empty());
}

#[test]
fn a_disabled_conference_is_no_valid_id() {
    let mut sim = sim_with(ConferenceConfig::default());
    sim.conferences.get_mut("481").unwrap().kind = Kind::Unscheduled { enabled: false };
    let (_, _, _, a) = dial_center(&mut sim, "100", 2);
    enter(&mut sim, a, "481", "481");
    assert!(heard(&sim, a, "conf-invalid"));
}

#[test]
fn wrong_passwords_lock_the_conference_and_the_caller_out_across_calls() {
    let mut sim = sim_with(ConferenceConfig::default());
    // Five wrong passwords (the PIN lockout's setting) over two calls lock conference 480.
    for round in 0..2 {
        let (mut phone, tx, call_id, vm) = dial_center(&mut sim, "100", 2);
        enter(&mut sim, vm, "480", "0000");
        let tries = if round == 0 { 2 } else { 3 };
        for _ in 1..tries {
            sim.play_done(vm);
            sim.keys(vm, "0000#");
        }
        sim.hang_up(&mut phone, tx, &call_id);
    }
    let (_, _, _, b) = dial_center(&mut sim, "101", 3);
    enter(&mut sim, b, "480", "480");
    assert!(
        heard(&sim, b, "conf-locked"),
        "even the right password, from another caller"
    );
    assert!(!sim.has_io(b, |io| matches!(io, VmIo::JoinRoom { .. })));
    let view = sim.sw.view(sim.now);
    assert!(
        view.lockouts.iter().any(|l| l.key == "conference 480"),
        "{:?}",
        view.lockouts
    );
    // The other conferences stay open to Bob; the administrator can unlock 480.
    assert!(sim.sw.unlock("conference 480"));
    assert!(sim.sw.unlock("127.0.0.2"));
    let (_, _, _, c) = dial_center(&mut sim, "102", 4);
    enter(&mut sim, c, "480", "480");
    assert!(heard(&sim, c, "conf-placeintoconf"));
}

#[test]
fn a_full_conference_and_a_server_out_of_rooms_refuse_the_next_caller_with_a_prompt() {
    let mut sim = sim_with(ConferenceConfig {
        seats: 1,
        active_limit: 2,
        ..ConferenceConfig::default()
    });
    let (_, _, _, a) = dial_center(&mut sim, "100", 2);
    enter(&mut sim, a, "480", "480");
    let (_, _, _, b) = dial_center(&mut sim, "101", 3);
    enter(&mut sim, b, "480", "480");
    assert!(heard(&sim, b, "conf-full") && heard(&sim, b, "vm-goodbye"));
    enter_other(&mut sim, "481");
    let (_, _, _, c) = dial_center(&mut sim, "102", 4);
    enter(&mut sim, c, "482", "482");
    assert!(
        heard(&sim, c, "conf-noroom"),
        "two rooms in session: a third is refused"
    );
    assert_eq!(sim.sw.view(sim.now).conferences.len(), 2);
}

/// Bob, refused by a full 480, calls again for 481 (a room is free).
fn enter_other(sim: &mut Sim, id: &str) {
    let (_, _, _, vm) = dial_center(sim, "101", 3);
    enter(sim, vm, id, id);
    assert!(heard(sim, vm, "conf-placeintoconf"));
}

/// A scheduled conference `id` (password 2468) starting at the simulation's wall clock + `in_secs`.
fn schedule_at(sim: &mut Sim, id: &str, in_secs: i64, minutes: u32) {
    use crate::conference::{Repeat, Schedule};
    let schedule = Schedule {
        starts_at: sim.unix + in_secs,
        duration_secs: minutes * 60,
        repeat: Repeat::Once,
        time_zone: "Europe/Berlin".into(),
        canceled_at: None,
    };
    sim.conferences.insert(
        id.into(),
        Conference {
            id: ConferenceId::new(id).unwrap(),
            password: ConferencePassword::new("2468").unwrap(),
            description: "Quarterly Meeting".into(),
            kind: Kind::Scheduled(schedule),
            seats: None,
        },
    );
}

#[test]
fn a_scheduled_conference_is_refused_before_its_time_and_joined_while_active_and_past_its_end() {
    let mut sim = sim_with(ConferenceConfig::default());
    schedule_at(&mut sim, "7001", 600, 30);
    let (_, _, _, a) = dial_center(&mut sim, "100", 2);
    enter(&mut sim, a, "7001", "2468");
    assert!(heard(&sim, a, "conf-notstarted") && heard(&sim, a, "vm-goodbye"));
    assert!(!sim.has_io(a, |io| matches!(io, VmIo::JoinRoom { .. })));
    // Ten minutes later it has begun.
    sim.advance(Duration::from_secs(600));
    let (_, _, _, b) = dial_center(&mut sim, "101", 3);
    enter(&mut sim, b, "7001", "2468");
    sim.play_done(b);
    assert!(sim.has_io(
        b,
        |io| matches!(io, VmIo::JoinRoom { room, .. } if room.as_str() == "7001")
    ));
    // An hour on, past its 30 minutes, Bob is still in it: Carol may still join (it extends itself).
    sim.advance(Duration::from_secs(3600));
    let (_, _, _, c) = dial_center(&mut sim, "102", 4);
    enter(&mut sim, c, "7001", "2468");
    assert!(heard(&sim, c, "conf-placeintoconf"));
}

#[test]
fn a_scheduled_conference_beginning_with_every_room_in_use_ends_the_unscheduled_one() {
    let mut sim = sim_with(ConferenceConfig {
        active_limit: 1,
        ..ConferenceConfig::default()
    });
    let (_, _, _, a) = dial_center(&mut sim, "100", 2);
    enter(&mut sim, a, "480", "480");
    sim.play_done(a);
    assert!(joined(&sim, a));
    schedule_at(&mut sim, "7001", 0, 60);
    let (_, _, _, b) = dial_center(&mut sim, "101", 3);
    enter(&mut sim, b, "7001", "2468");
    assert!(heard(&sim, b, "conf-placeintoconf"));
    // Alice's unscheduled conference was ended: her audio left the room, she is told, and her call
    // ends after the words.
    assert!(sim.has_io(a, |io| matches!(io, VmIo::LeaveRoom { .. })));
    assert!(heard(&sim, a, "conf-ended"));
    sim.play_done(a);
    sim.advance(Duration::from_secs(1));
    assert!(sim.has_io(a, |io| *io == VmIo::Close));
    let view = sim.sw.view(sim.now);
    assert_eq!(view.conferences.len(), 1);
    assert_eq!(view.conferences[0].id, "7001");
}

#[test]
fn a_moderator_disconnects_one_participant_and_ends_the_conference() {
    let mut sim = sim_with(ConferenceConfig::default());
    let mut calls = Vec::new();
    for (user, octet) in [("100", 2), ("101", 3), ("102", 4)] {
        let (_, _, _, vm) = dial_center(&mut sim, user, octet);
        enter(&mut sim, vm, "480", "480");
        sim.play_done(vm);
        calls.push(vm);
    }
    let id = ConferenceId::new("480").unwrap();
    assert!(!sim
        .sw
        .disconnect(sim.now, &ConferenceId::new("481").unwrap(), calls[0].0));
    assert!(sim.sw.disconnect(sim.now, &id, calls[0].0));
    sim.run();
    assert!(heard(&sim, calls[0], "conf-kicked"));
    assert!(sim.has_io(calls[0], |io| *io == VmIo::LeaveRoom { chime: true }));
    assert_eq!(sim.sw.view(sim.now).conferences[0].participants.len(), 2);
    assert_eq!(sim.sw.end_conference(sim.now, &id), 2);
    sim.run();
    for vm in &calls[1..] {
        assert!(heard(&sim, *vm, "conf-ended"));
    }
    assert!(sim.sw.view(sim.now).conferences.is_empty());
}
