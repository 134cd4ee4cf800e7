use std::time::{Duration, Instant};

use super::*;
use crate::vm::profile::classic;
use crate::vm::LocalTime;

fn t0() -> Instant {
    crate::test_epoch()
}

fn drain(s: &mut Session) -> Vec<Command> {
    std::iter::from_fn(|| s.poll_command()).collect()
}

fn played(cmds: &[Command]) -> Vec<String> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Play(a) => Some(a.iter().map(|x| match x {
                Audio::Prompt(p) => p.clone(),
                Audio::Greeting { kind, .. } => format!("greeting:{}", kind.as_str()),
                Audio::Message(id) => format!("message:{id}"),
                Audio::Take => "take".into(),
            })),
            _ => None,
        })
        .flatten()
        .collect()
}

fn deposit(reason: Reason, greetings: Greetings) -> Session {
    Session::deposit(
        classic(),
        VmConfig::default(),
        Deposit {
            mailbox: "101".into(),
            caller: Some("100".into()),
            reason,
            greetings,
            transfer: false,
        },
    )
}

fn record_done(s: &mut Session, ms: u64, end: RecordEnd) {
    s.handle_record_done(
        t0(),
        RecordResult {
            duration_ms: ms,
            end,
        },
    );
}

#[test]
fn busy_caller_hears_the_busy_greeting_when_recorded() {
    let g = Greetings {
        busy: true,
        unavailable: true,
        ..Default::default()
    };
    let mut s = deposit(Reason::Busy, g);
    assert_eq!(
        played(&drain(&mut s)),
        ["greeting:busy", "vm-intro", "beep"]
    );
    let mut s = deposit(Reason::NoAnswer, g);
    assert_eq!(played(&drain(&mut s))[0], "greeting:unavailable");
}

#[test]
fn temporary_greeting_overrides_the_others() {
    let g = Greetings {
        busy: true,
        unavailable: true,
        temporary: true,
        name: true,
        ..Default::default()
    };
    let mut s = deposit(Reason::Busy, g);
    assert_eq!(played(&drain(&mut s))[0], "greeting:temporary");
}

#[test]
fn without_greetings_the_system_greeting_says_the_name_or_the_number() {
    let mut s = deposit(
        Reason::Unavailable,
        Greetings {
            name: true,
            ..Default::default()
        },
    );
    assert_eq!(
        played(&drain(&mut s)),
        ["greeting:name", "vm-isunavail", "vm-intro", "beep"]
    );
    let mut s = deposit(Reason::Busy, Greetings::default());
    assert_eq!(
        played(&drain(&mut s)),
        [
            "vm-theperson",
            "digits/1",
            "digits/0",
            "digits/1",
            "vm-isonphone",
            "vm-intro",
            "beep"
        ]
    );
}

#[test]
fn message_recorded_after_the_tone_is_kept_on_hangup() {
    let mut s = deposit(Reason::NoAnswer, Greetings::default());
    drain(&mut s);
    s.handle_play_done(t0());
    let cmds = drain(&mut s);
    assert!(matches!(
        &cmds[..],
        [Command::Record { purpose: RecordingFor::Message { mailbox, caller }, max, silence }]
            if mailbox == "101" && caller.as_deref() == Some("100")
            && *max == Duration::from_secs(180) && *silence == Some(Duration::from_secs(10))
    ));
    record_done(&mut s, 4200, RecordEnd::Hangup);
    s.handle_hangup(t0());
    assert_eq!(drain(&mut s), [Command::KeepTake]);
    assert!(s.is_done());
}

#[test]
fn a_message_shorter_than_the_minimum_is_discarded() {
    let mut s = deposit(Reason::NoAnswer, Greetings::default());
    s.handle_play_done(t0());
    drain(&mut s);
    record_done(&mut s, 600, RecordEnd::Hangup);
    s.handle_hangup(t0());
    assert_eq!(drain(&mut s), [Command::DiscardTake]);
}

#[test]
fn pound_ends_the_recording_and_offers_the_review_menu() {
    let mut s = deposit(Reason::NoAnswer, Greetings::default());
    s.handle_play_done(t0());
    drain(&mut s);
    s.handle_dtmf(t0(), '#');
    assert_eq!(drain(&mut s), [Command::StopRecord]);
    record_done(&mut s, 3000, RecordEnd::Stopped);
    assert_eq!(played(&drain(&mut s)), ["vm-review"]);
    s.handle_dtmf(t0(), '2');
    let cmds = drain(&mut s);
    assert_eq!(played(&cmds), ["take"]);
    s.handle_play_done(t0());
    assert_eq!(played(&drain(&mut s)), ["vm-review"]);
    s.handle_dtmf(t0(), '1');
    let cmds = drain(&mut s);
    assert_eq!(cmds[1], Command::KeepTake);
    assert_eq!(played(&cmds), ["vm-msgsaved", "vm-goodbye"]);
    s.handle_play_done(t0());
    assert_eq!(ended(&mut s), [Command::Hangup]);
}

#[test]
fn record_again_discards_the_first_take() {
    let mut s = deposit(Reason::NoAnswer, Greetings::default());
    s.handle_play_done(t0());
    s.handle_dtmf(t0(), '#');
    record_done(&mut s, 3000, RecordEnd::Stopped);
    drain(&mut s);
    s.handle_dtmf(t0(), '3');
    let cmds = drain(&mut s);
    assert!(cmds.contains(&Command::DiscardTake));
    assert_eq!(played(&cmds), ["beep"]);
    s.handle_play_done(t0());
    assert!(matches!(drain(&mut s)[..], [Command::Record { .. }]));
}

#[test]
fn silence_ends_the_message_and_keeps_it() {
    let mut s = deposit(Reason::NoAnswer, Greetings::default());
    s.handle_play_done(t0());
    drain(&mut s);
    record_done(&mut s, 5000, RecordEnd::Silence);
    let cmds = drain(&mut s);
    assert_eq!(cmds[0], Command::KeepTake);
    assert_eq!(played(&cmds), ["vm-msgsaved", "vm-goodbye"]);
}

#[test]
fn zero_during_the_greeting_reaches_the_operator_only_when_configured() {
    let mut s = deposit(Reason::NoAnswer, Greetings::default());
    drain(&mut s);
    s.handle_dtmf(t0(), '0');
    let cmds = drain(&mut s);
    assert!(!cmds.contains(&Command::Operator));
    let mut s = Session::deposit(
        classic(),
        VmConfig {
            operator: true,
            ..Default::default()
        },
        Deposit {
            mailbox: "101".into(),
            caller: None,
            reason: Reason::NoAnswer,
            greetings: Greetings::default(),
            transfer: false,
        },
    );
    drain(&mut s);
    s.handle_dtmf(t0(), '0');
    assert_eq!(drain(&mut s), [Command::StopPlay, Command::Operator]);
    assert!(s.is_done());
}

#[test]
fn star_during_the_greeting_asks_for_the_pin_of_that_mailbox() {
    let mut s = deposit(Reason::NoAnswer, Greetings::default());
    drain(&mut s);
    s.handle_dtmf(t0(), '*');
    assert_eq!(played(&drain(&mut s)), ["vm-password"]);
    for d in "2580#".chars() {
        s.handle_dtmf(t0(), d);
    }
    assert_eq!(
        drain(&mut s),
        [
            Command::StopPlay,
            Command::Login {
                mailbox: "101".into(),
                pin: Pin::new("2580")
            }
        ]
    );
}

fn msg(id: i64, folder: Folder) -> MessageInfo {
    MessageInfo {
        id,
        folder,
        received: LocalTime {
            weekday: 1,
            month: 11,
            day: 23,
            hour: 14,
            minute: 15,
        },
        caller: Some("100".into()),
        caller_is_extension: true,
    }
}

fn view(messages: Vec<MessageInfo>) -> MailboxView {
    MailboxView {
        number: "101".into(),
        greetings: Greetings::default(),
        messages,
        pin_is_default: false,
    }
}

fn logged_in(messages: Vec<MessageInfo>) -> Session {
    let mut s = Session::retrieval(classic(), VmConfig::default(), Some("101".into()), true);
    assert_eq!(played(&drain(&mut s)), ["vm-password"]);
    for d in "2580#".chars() {
        s.handle_dtmf(t0(), d);
    }
    drain(&mut s);
    s.handle_login(t0(), LoginResult::Ok(view(messages)));
    s
}

#[test]
fn login_announces_the_counts_then_the_main_menu() {
    let mut s = logged_in(vec![
        msg(1, Folder::New),
        msg(2, Folder::New),
        msg(3, Folder::Old),
    ]);
    assert_eq!(
        played(&drain(&mut s)),
        [
            "vm-youhave",
            "digits/2",
            "vm-INBOX",
            "vm-messages",
            "vm-and",
            "digits/1",
            "vm-Old",
            "vm-message"
        ]
    );
    s.handle_play_done(t0());
    assert_eq!(played(&drain(&mut s)), ["vm-mainmenu"]);
}

#[test]
fn listening_says_the_envelope_plays_the_message_and_marks_it_heard() {
    let mut s = logged_in(vec![msg(7, Folder::New), msg(8, Folder::New)]);
    s.handle_play_done(t0());
    drain(&mut s);
    s.handle_dtmf(t0(), '1');
    let cmds = drain(&mut s);
    let audio = played(&cmds);
    assert_eq!(audio[..3], ["vm-first", "vm-message", "digits/1"]);
    assert!(audio.contains(&"digits/day-1".to_string()));
    assert!(audio.contains(&"vm-from-extension".to_string()));
    assert_eq!(audio.last().map(String::as_str), Some("message:7"));
    assert!(cmds.contains(&Command::MoveMessage {
        id: 7,
        folder: Folder::Old
    }));
    // Rewind and fast-forward while it plays.
    s.handle_dtmf(t0(), '*');
    s.handle_dtmf(t0(), '#');
    assert_eq!(drain(&mut s), [Command::Seek(-3000), Command::Seek(3000)]);
    s.handle_play_done(t0());
    assert_eq!(played(&drain(&mut s)), ["vm-msg-options"]);
    // 6: next (the last one).
    s.handle_dtmf(t0(), '6');
    let audio = played(&drain(&mut s));
    assert_eq!(audio[..3], ["vm-last", "vm-message", "digits/2"]);
}

#[test]
fn saving_to_work_moves_the_message_and_goes_on() {
    let mut s = logged_in(vec![msg(7, Folder::New), msg(8, Folder::New)]);
    s.handle_play_done(t0());
    s.handle_dtmf(t0(), '1');
    s.handle_play_done(t0());
    drain(&mut s);
    s.handle_dtmf(t0(), '9');
    assert_eq!(played(&drain(&mut s)), ["vm-savefolder", "vm-folders"]);
    s.handle_dtmf(t0(), '2');
    let cmds = drain(&mut s);
    assert!(cmds.contains(&Command::MoveMessage {
        id: 7,
        folder: Folder::Work
    }));
    assert_eq!(played(&cmds), ["vm-savedto", "vm-Work", "vm-folder"]);
    s.handle_play_done(t0());
    let audio = played(&drain(&mut s));
    assert_eq!(audio.last().map(String::as_str), Some("message:8"));
}

#[test]
fn delete_removes_the_message() {
    let mut s = logged_in(vec![msg(7, Folder::Old)]);
    s.handle_play_done(t0());
    s.handle_dtmf(t0(), '1');
    s.handle_dtmf(t0(), '7'); // interrupts the playback, acts in the message menu
    let cmds = drain(&mut s);
    assert!(cmds.contains(&Command::StopPlay));
    assert!(cmds.contains(&Command::DeleteMessage(7)));
    s.handle_play_done(t0());
    assert_eq!(played(&drain(&mut s)), ["vm-mainmenu"]);
}

#[test]
fn three_wrong_pins_end_the_call() {
    let mut s = Session::retrieval(classic(), VmConfig::default(), None, true);
    for attempt in 1..=3 {
        assert_eq!(
            played(&drain(&mut s)),
            ["vm-login"],
            "attempt {attempt} asks for the mailbox"
        );
        for d in "101#9999#".chars() {
            s.handle_dtmf(t0(), d);
        }
        let cmds = drain(&mut s);
        assert!(cmds.contains(&Command::Login {
            mailbox: "101".into(),
            pin: Pin::new("9999")
        }));
        s.handle_login(t0(), LoginResult::Wrong);
        if attempt < 3 {
            assert_eq!(played(&drain(&mut s)), ["vm-incorrect"]);
            s.handle_play_done(t0());
        }
    }
    assert_eq!(played(&drain(&mut s)), ["vm-incorrect", "vm-goodbye"]);
    s.handle_play_done(t0());
    assert_eq!(ended(&mut s), [Command::Hangup]);
}

#[test]
fn default_pin_must_be_changed_at_first_login_and_trivial_pins_are_refused() {
    let mut s = Session::retrieval(classic(), VmConfig::default(), Some("101".into()), false);
    assert_eq!(
        drain(&mut s),
        [Command::Login {
            mailbox: "101".into(),
            pin: None
        }]
    );
    let mut v = view(vec![]);
    v.pin_is_default = true;
    s.handle_login(t0(), LoginResult::Ok(v));
    assert_eq!(played(&drain(&mut s)), ["vm-newuser"]);
    s.handle_play_done(t0());
    assert_eq!(played(&drain(&mut s)), ["vm-newpassword"]);
    for d in "1111#".chars() {
        s.handle_dtmf(t0(), d);
    }
    assert_eq!(played(&drain(&mut s)), ["vm-pass-trivial"]);
    s.handle_play_done(t0());
    drain(&mut s);
    for d in "12#".chars() {
        s.handle_dtmf(t0(), d);
    }
    assert_eq!(
        played(&drain(&mut s)),
        ["vm-pass-short", "digits/4", "vm-digits"]
    );
    s.handle_play_done(t0());
    drain(&mut s);
    for d in "2580#".chars() {
        s.handle_dtmf(t0(), d);
    }
    assert_eq!(played(&drain(&mut s)), ["vm-reenterpassword"]);
    for d in "2580#".chars() {
        s.handle_dtmf(t0(), d);
    }
    let cmds = drain(&mut s);
    assert!(cmds.contains(&Command::SetPin(Pin::new("2580").unwrap())));
    assert_eq!(played(&cmds), ["vm-passchanged"]);
    s.handle_play_done(t0());
    assert_eq!(
        played(&drain(&mut s)),
        ["vm-youhave", "vm-no", "vm-messages"]
    );
}

#[test]
fn temporary_greeting_is_deactivated_with_0_4_2_once_an_unavailable_one_exists() {
    let mut s = logged_in(vec![]);
    let mut v = view(vec![]);
    v.greetings.temporary = true;
    s.handle_login(t0(), LoginResult::Ok(v));
    s.handle_play_done(t0());
    drain(&mut s);
    s.handle_dtmf(t0(), '0');
    s.handle_dtmf(t0(), '4');
    assert_eq!(
        played(&drain(&mut s)),
        ["vm-options", "vm-tmpexists", "vm-tempgreeting2"]
    );
    s.handle_dtmf(t0(), '2');
    assert_eq!(played(&drain(&mut s)), ["vm-need-unavail"]);
    // Record an unavailable greeting, accept it, then deactivate.
    s.handle_play_done(t0());
    drain(&mut s);
    s.handle_dtmf(t0(), '1');
    assert_eq!(played(&drain(&mut s)), ["vm-rec-unv", "beep"]);
    s.handle_play_done(t0());
    assert!(matches!(
        &drain(&mut s)[..],
        [Command::Record {
            purpose: RecordingFor::Greeting {
                kind: GreetingKind::Unavailable,
                ..
            },
            ..
        }]
    ));
    s.handle_dtmf(t0(), '#');
    record_done(&mut s, 2500, RecordEnd::Stopped);
    assert_eq!(played(&drain(&mut s)), ["vm-review"]);
    s.handle_dtmf(t0(), '1');
    let cmds = drain(&mut s);
    assert!(cmds.contains(&Command::KeepTake));
    s.handle_play_done(t0());
    drain(&mut s);
    s.handle_dtmf(t0(), '4');
    drain(&mut s);
    s.handle_dtmf(t0(), '2');
    let cmds = drain(&mut s);
    assert!(cmds.contains(&Command::DeactivateTemporary));
    assert_eq!(played(&cmds), ["vm-tempremoved"]);
}

#[test]
fn a_menu_left_unanswered_is_repeated_then_the_call_ends() {
    let mut s = logged_in(vec![]);
    s.handle_play_done(t0());
    drain(&mut s);
    let mut now = t0();
    for _ in 0..2 {
        s.handle_play_done(now);
        now += Duration::from_secs(7);
        s.handle_timeout(now);
        assert_eq!(played(&drain(&mut s)), ["vm-mainmenu"]);
    }
    s.handle_play_done(now);
    now += Duration::from_secs(7);
    s.handle_timeout(now);
    assert_eq!(played(&drain(&mut s)), ["vm-goodbye"]);
}

#[test]
fn leave_a_message_in_another_mailbox_from_the_advanced_menu() {
    let mut s = logged_in(vec![]);
    s.handle_play_done(t0());
    drain(&mut s);
    s.handle_dtmf(t0(), '3');
    s.handle_dtmf(t0(), '5');
    assert_eq!(played(&drain(&mut s)), ["vm-advopts", "vm-leavemsg-to"]);
    for d in "102#".chars() {
        s.handle_dtmf(t0(), d);
    }
    assert_eq!(
        drain(&mut s),
        [Command::StopPlay, Command::CheckMailbox("102".into())]
    );
    s.handle_mailbox_exists(t0(), "102", true);
    assert_eq!(played(&drain(&mut s)), ["vm-intro", "beep"]);
    s.handle_play_done(t0());
    assert!(matches!(
        &drain(&mut s)[..],
        [Command::Record { purpose: RecordingFor::Message { mailbox, caller }, .. }]
            if mailbox == "102" && caller.as_deref() == Some("101")
    ));
}

#[test]
fn an_active_announcement_replaces_the_standard_greeting_and_records_after_the_tone() {
    let g = Greetings {
        unavailable: true,
        announcement: Some(GreetingKind::AnnouncementB),
        ..Default::default()
    };
    let mut s = deposit(Reason::NoAnswer, g);
    assert_eq!(played(&drain(&mut s)), ["greeting:announcement-b", "beep"]);
    s.handle_play_done(t0());
    assert!(drain(&mut s)
        .iter()
        .any(|c| matches!(c, Command::Record { .. })));
}

#[test]
fn with_recording_off_the_caller_hears_the_announcement_then_goodbye_and_cannot_record() {
    let g = Greetings {
        announcement: Some(GreetingKind::AnnouncementA),
        record: false,
        ..Default::default()
    };
    let mut s = deposit(Reason::NoAnswer, g);
    assert_eq!(
        played(&drain(&mut s)),
        ["greeting:announcement-a", "vm-goodbye"]
    );
    s.handle_play_done(t0());
    let cmds = ended(&mut s);
    assert!(cmds.iter().any(|c| matches!(c, Command::Hangup)));
    assert!(!cmds.iter().any(|c| matches!(c, Command::Record { .. })));
    assert!(s.is_done());
    // Skipping the announcement with # does not lead to a tone either.
    let mut s = deposit(Reason::NoAnswer, g);
    drain(&mut s);
    s.handle_dtmf(t0(), '#');
    assert_eq!(played(&drain(&mut s)), ["vm-goodbye"]);
    s.handle_play_done(t0());
    assert!(ended(&mut s).iter().any(|c| matches!(c, Command::Hangup)));
    // The standard greeting can be announce-only too.
    let mut s = deposit(
        Reason::Busy,
        Greetings {
            busy: true,
            record: false,
            ..Default::default()
        },
    );
    assert_eq!(played(&drain(&mut s)), ["greeting:busy", "vm-goodbye"]);
}

#[test]
fn zero_four_records_the_temporary_greeting_at_once_when_none_is_on() {
    // Seed 001: "*97, password, 0, 4 · Once recording is finished, dial #, 1".
    let mut s = logged_in(vec![]);
    s.handle_play_done(t0());
    drain(&mut s);
    s.handle_dtmf(t0(), '0');
    drain(&mut s);
    s.handle_dtmf(t0(), '4');
    assert_eq!(played(&drain(&mut s)), ["vm-rec-temp", "beep"]);
    s.handle_play_done(t0());
    assert!(matches!(
        &drain(&mut s)[..],
        [Command::Record {
            purpose: RecordingFor::Greeting {
                kind: GreetingKind::Temporary,
                ..
            },
            ..
        }]
    ));
    s.handle_dtmf(t0(), '#');
    record_done(&mut s, 2500, RecordEnd::Stopped);
    assert_eq!(played(&drain(&mut s)), ["vm-review"]);
    s.handle_dtmf(t0(), '1');
    assert!(drain(&mut s).contains(&Command::KeepTake));
}

/// After the last prompt: nothing until the linger has passed (the phone plays out what it holds),
/// then the commands that end the call.
fn ended(s: &mut Session) -> Vec<Command> {
    let before = drain(s);
    assert!(
        !before.iter().any(|c| matches!(c, Command::Hangup)),
        "the call must not end before the prompt has played out: {before:?}"
    );
    assert!(!s.is_done());
    s.handle_timeout(t0() + super::HANGUP_LINGER);
    let mut cmds = before;
    cmds.extend(drain(s));
    cmds
}

#[test]
fn voicemail_with_transfer_tells_the_caller_0_transfers_and_0_does() {
    let mut s = Session::deposit(
        classic(),
        VmConfig {
            operator: true,
            ..Default::default()
        },
        Deposit {
            mailbox: "101".into(),
            caller: Some("100".into()),
            reason: Reason::NoAnswer,
            greetings: Greetings::default(),
            transfer: true,
        },
    );
    let said = played(&drain(&mut s));
    assert!(said.contains(&"vm-intro-transfer".to_string()), "{said:?}");
    assert!(!said.contains(&"vm-intro".to_string()));
    s.handle_dtmf(t0(), '0');
    assert!(drain(&mut s).contains(&Command::Operator));
}
