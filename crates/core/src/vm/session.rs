//! One caller's conversation with voicemail: the interpreter of a menu [`Profile`]. It keeps the
//! conversation's state (what plays, which menu, what is being collected or recorded, which message is
//! current) and turns digits and media events into [`Command`]s. No IO: time comes in as `now`.

use std::collections::VecDeque;
use std::time::Instant;

use super::pin::{self, Pin, PinProblem};
use super::profile::{Act, MenuPrompt, Profile};
use super::say;
use super::{
    Audio, Command, ConferenceAnswer, ConferenceRefusal, Folder, GreetingKind, Greetings,
    LoginResult, MailboxView, MessageInfo, Reason, RecordEnd, RecordResult, RecordingFor, VmConfig,
};

/// What to do once an informational prompt has been said.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Then {
    Menu(&'static str),
    Record,
    Collect(Collect),
    Hangup,
    PlayMessage,
    LoggedIn,
    /// Into the conference room ([`Command::JoinConference`]).
    Join,
}

/// What a digit string is being collected for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Collect {
    Mailbox,
    Pin,
    NewPin,
    PinAgain,
    Target,
    /// A Conference ID.
    ConferenceId,
    /// A conference's password.
    ConferencePassword,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// A caller hears the mailbox's greeting (then the tone).
    Greeting,
    /// Saying something, then `Then`.
    Saying(Then),
    /// In a menu: its prompt plays, or it waits for a key.
    Menu(&'static str),
    /// Collecting digits ended by `#`.
    Collecting(Collect),
    /// Waiting for the shell's answer to a login or a mailbox check.
    Waiting,
    /// Recording; `stopping` once a stop was asked.
    Recording,
    /// A message plays.
    PlayingMessage,
    /// In a conference room: the room has the caller's audio.
    InConference,
    /// The last words were sent; the call ends at the deadline.
    Ending,
    /// Over.
    Done,
}

/// How long after its last prompt was sent a call is ended: the phone still holds the prompt's
/// last packets in its jitter buffer, and a BYE at once would cut them off.
pub const HANGUP_LINGER: std::time::Duration = std::time::Duration::from_millis(400);

/// The take being recorded or reviewed.
#[derive(Debug, Clone)]
struct Take {
    purpose: RecordingFor,
    /// Set once the recording has ended.
    duration_ms: Option<u64>,
}

/// What started this session.
#[derive(Debug, Clone)]
pub struct Deposit {
    /// The mailbox the message is for.
    pub mailbox: String,
    /// The caller's number, if known.
    pub caller: Option<String>,
    /// Why the call came here.
    pub reason: Reason,
    /// The mailbox's greetings.
    pub greetings: Greetings,
    /// "Voicemail with Transfer": the caller is told that `0` transfers instead.
    pub transfer: bool,
}

/// One voicemail conversation. See the module documentation.
#[derive(Debug)]
pub struct Session {
    profile: std::sync::Arc<Profile>,
    config: VmConfig,
    phase: Phase,
    /// A Play command is in progress.
    playing: bool,
    deadline: Option<Instant>,
    retries: u32,
    login_attempts: u32,
    /// The mailbox being logged into (known from the start for `*97` and remote access).
    login_number: Option<String>,
    /// Whether the mailbox number was asked for (so a wrong login asks for it again).
    ask_mailbox: bool,
    mailbox: Option<MailboxView>,
    /// After the forced PIN change at first login, continue to the counts.
    forced_pin_change: bool,
    folder: Folder,
    listing: Vec<i64>,
    cursor: usize,
    take: Option<Take>,
    /// The caller hears an announcement and cannot leave a message ("Recording active" off).
    announce_only: bool,
    /// Where the next recording goes, decided before the tone.
    next_recording: Option<RecordingFor>,
    digits: String,
    new_pin: Option<Pin>,
    out: VecDeque<Command>,
}

impl Session {
    fn new(profile: std::sync::Arc<Profile>, config: VmConfig) -> Session {
        Session {
            profile,
            config,
            phase: Phase::Done,
            playing: false,
            deadline: None,
            retries: 0,
            login_attempts: 0,
            login_number: None,
            ask_mailbox: false,
            mailbox: None,
            forced_pin_change: false,
            folder: Folder::New,
            listing: Vec::new(),
            cursor: 0,
            take: None,
            announce_only: false,
            next_recording: None,
            digits: String::new(),
            new_pin: None,
            out: VecDeque::new(),
        }
    }

    /// A caller leaving a message: plays the greeting chosen by the reason (or the active custom
    /// announcement), then the tone. With "Recording active" off the caller hears the greeting, then
    /// goodbye, and the call ends.
    pub fn deposit(
        profile: impl Into<std::sync::Arc<Profile>>,
        config: VmConfig,
        d: Deposit,
    ) -> Session {
        let mut s = Session::new(profile.into(), config);
        let g = d.greetings;
        let mut audio = greeting_audio(&d);
        s.login_number = Some(d.mailbox.clone());
        if g.record {
            if g.temporary || g.announcement.is_none() {
                audio.push(prompt(if d.transfer {
                    "vm-intro-transfer"
                } else {
                    "vm-intro"
                }));
            }
            audio.push(prompt("beep"));
            s.next_recording = Some(RecordingFor::Message {
                mailbox: d.mailbox,
                caller: d.caller,
            });
        } else {
            audio.push(prompt("vm-goodbye"));
            s.announce_only = true;
        }
        s.phase = Phase::Greeting;
        s.play(audio);
        s
    }

    /// The mailbox menu. `mailbox` is known for `*97` (own phone); `prompt_pin` is false when the
    /// owner switched "Always prompt" off and calls from their own phone.
    pub fn retrieval(
        profile: impl Into<std::sync::Arc<Profile>>,
        config: VmConfig,
        mailbox: Option<String>,
        prompt_pin: bool,
    ) -> Session {
        let mut s = Session::new(profile.into(), config);
        match mailbox {
            None => {
                s.ask_mailbox = true;
                s.collect(Collect::Mailbox);
            }
            Some(m) if prompt_pin => {
                s.login_number = Some(m);
                s.collect(Collect::Pin);
            }
            Some(m) => {
                s.login_number = Some(m.clone());
                s.phase = Phase::Waiting;
                s.out.push_back(Command::Login {
                    mailbox: m,
                    pin: None,
                });
            }
        }
        s
    }

    /// Say `audio` and hang up (the answer to a feature code, such as a presence set from the phone).
    pub fn notice(
        profile: impl Into<std::sync::Arc<Profile>>,
        config: VmConfig,
        audio: Vec<Audio>,
    ) -> Session {
        let mut s = Session::new(profile.into(), config);
        s.say(audio, Then::Hangup);
        s
    }

    /// The Conference Center: a welcome, then the Conference ID and its password are asked for
    /// (answered by [`Session::handle_conference`]), and the caller is placed into the conference.
    pub fn conference(profile: impl Into<std::sync::Arc<Profile>>, config: VmConfig) -> Session {
        let mut s = Session::new(profile.into(), config);
        s.say(
            vec![prompt("conf-welcome")],
            Then::Collect(Collect::ConferenceId),
        );
        s
    }

    /// The switch's answer to [`Command::ConferenceId`] or [`Command::ConferencePassword`]. Wrong
    /// IDs and passwords together are allowed `max_login_attempts` (3) in a call.
    pub fn handle_conference(&mut self, now: Instant, answer: ConferenceAnswer) {
        if self.phase != Phase::Waiting {
            return;
        }
        let (wrong, again) = match answer {
            ConferenceAnswer::AskPassword => return self.collect(Collect::ConferencePassword),
            ConferenceAnswer::Enter { alone } => {
                let mut audio = vec![prompt("conf-placeintoconf")];
                if alone {
                    audio.push(prompt("conf-onlyperson"));
                }
                return self.say(audio, Then::Join);
            }
            ConferenceAnswer::Refused(why) => {
                let p = match why {
                    ConferenceRefusal::Full => "conf-full",
                    ConferenceRefusal::NoRoom => "conf-noroom",
                    ConferenceRefusal::Locked => "conf-locked",
                    ConferenceRefusal::NotStarted => "conf-notstarted",
                };
                return self.say(vec![prompt(p), prompt("vm-goodbye")], Then::Hangup);
            }
            ConferenceAnswer::WrongId => ("conf-invalid", Collect::ConferenceId),
            ConferenceAnswer::WrongPassword => ("conf-invalidpin", Collect::ConferencePassword),
        };
        let _ = now;
        self.login_attempts += 1;
        if self.login_attempts >= self.config.max_login_attempts {
            self.say(vec![prompt(wrong), prompt("vm-goodbye")], Then::Hangup);
        } else {
            self.say(vec![prompt(wrong)], Then::Collect(again));
        }
    }

    /// The caller's conference ended for it (`removed`: a Creator or Moderator disconnected it; else
    /// the conference was ended): it is told so, and the call ends.
    pub fn conference_ended(&mut self, _now: Instant, removed: bool) {
        if matches!(self.phase, Phase::InConference | Phase::Saying(Then::Join)) {
            let p = if removed { "conf-kicked" } else { "conf-ended" };
            self.say(vec![prompt(p)], Then::Hangup);
        }
    }

    /// Whether the caller is in a conference room.
    pub fn in_conference(&self) -> bool {
        self.phase == Phase::InConference
    }

    /// The next command for the shell.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.out.pop_front()
    }

    /// When [`Session::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<(Instant, &'static str)> {
        self.deadline.map(|d| (d, "waiting for a key"))
    }

    /// Whether the conversation is over (the shell hangs up once commands are drained).
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// The mailbox logged into, if any.
    pub fn mailbox(&self) -> Option<&str> {
        self.mailbox.as_ref().map(|m| m.number.as_str())
    }

    // ---- inputs ----

    /// A key pressed by the caller.
    pub fn handle_dtmf(&mut self, now: Instant, key: char) {
        match self.phase.clone() {
            Phase::Greeting => {
                if let Some(act) = self.profile.menu("greeting").keys.get(&key).copied() {
                    self.stop_playing();
                    self.act(now, "greeting", act);
                }
            }
            Phase::Saying(Then::Menu(m)) => {
                self.stop_playing();
                self.phase = Phase::Menu(m);
                self.menu_key(now, m, key);
            }
            Phase::Saying(Then::Collect(c)) => {
                // Typing ahead of a prompt that leads to a digit entry starts that entry.
                self.stop_playing();
                self.digits.clear();
                self.phase = Phase::Collecting(c);
                self.handle_dtmf(now, key);
            }
            Phase::Saying(_)
            | Phase::Waiting
            | Phase::InConference
            | Phase::Ending
            | Phase::Done => {}
            Phase::Menu(m) => {
                self.stop_playing();
                self.menu_key(now, m, key);
            }
            Phase::Collecting(c) => {
                self.stop_playing();
                if key == '#' {
                    self.submit(now, c);
                } else if key.is_ascii_digit() && self.digits.len() < 20 {
                    self.digits.push(key);
                    self.deadline = Some(now + self.config.digit_timeout);
                }
            }
            Phase::Recording => {
                if key == '#' {
                    self.out.push_back(Command::StopRecord);
                }
            }
            Phase::PlayingMessage => {
                match self.profile.menu("playing").keys.get(&key).copied() {
                    Some(Act::Rewind) => self.out.push_back(Command::Seek(-self.skip_ms())),
                    Some(Act::FastForward) => self.out.push_back(Command::Seek(self.skip_ms())),
                    _ => {
                        // Any other key leaves the message and acts in the after-message menu.
                        self.stop_playing();
                        self.phase = Phase::Menu("message");
                        self.menu_key(now, "message", key);
                    }
                }
            }
        }
    }

    /// The last Play finished.
    pub fn handle_play_done(&mut self, now: Instant) {
        self.playing = false;
        match self.phase.clone() {
            Phase::Greeting if self.announce_only => self.then(now, Then::Hangup),
            Phase::Greeting => self.start_recording(),
            Phase::Saying(then) => self.then(now, then),
            Phase::Menu(_) | Phase::Collecting(_) => {
                self.deadline = Some(now + self.config.digit_timeout)
            }
            Phase::PlayingMessage => self.enter_menu("message"),
            Phase::Waiting
            | Phase::Recording
            | Phase::InConference
            | Phase::Ending
            | Phase::Done => {}
        }
    }

    /// The recording ended (always reported, also after a hang-up, before [`Session::handle_hangup`]).
    pub fn handle_record_done(&mut self, now: Instant, r: RecordResult) {
        let Some(take) = self.take.as_mut() else {
            return;
        };
        take.duration_ms = Some(r.duration_ms);
        let is_message = matches!(take.purpose, RecordingFor::Message { .. });
        let too_short = r.duration_ms < self.config.min_message.as_millis() as u64;
        let deposit = self.mailbox.is_none();
        if r.end == RecordEnd::Hangup {
            return; // handle_hangup decides.
        }
        if too_short {
            self.out.push_back(Command::DiscardTake);
            self.take = None;
            let msg = if is_message {
                "vm-tooshort"
            } else {
                "vm-nothing-recorded"
            };
            let then = match (is_message, deposit) {
                (true, true) => {
                    return self.say(vec![prompt(msg), prompt("vm-goodbye")], Then::Hangup)
                }
                (true, false) => Then::Menu("main"),
                (false, _) => Then::Menu("options"),
            };
            return self.say(vec![prompt(msg)], then);
        }
        match (is_message, r.end) {
            (_, RecordEnd::Stopped) | (false, _) => self.enter_menu("review"),
            (true, _) => {
                // Silence or maximum length: the message is kept without a review.
                self.accept(now);
            }
        }
    }

    /// The shell's answer to [`Command::Login`].
    pub fn handle_login(&mut self, now: Instant, result: LoginResult) {
        match result {
            LoginResult::Ok(view) => {
                self.login_attempts = 0;
                self.folder = if view.messages.iter().any(|m| m.folder == Folder::New) {
                    Folder::New
                } else {
                    Folder::Old
                };
                let forced = view.pin_is_default;
                self.mailbox = Some(view);
                if forced {
                    self.forced_pin_change = true;
                    self.say(vec![prompt("vm-newuser")], Then::Collect(Collect::NewPin));
                } else {
                    self.then(now, Then::LoggedIn);
                }
            }
            LoginResult::Wrong => {
                self.login_attempts += 1;
                if self.login_attempts >= self.config.max_login_attempts {
                    self.say(
                        vec![prompt("vm-incorrect"), prompt("vm-goodbye")],
                        Then::Hangup,
                    );
                } else {
                    let again = if self.ask_mailbox {
                        Collect::Mailbox
                    } else {
                        Collect::Pin
                    };
                    self.say(vec![prompt("vm-incorrect")], Then::Collect(again));
                }
            }
            LoginResult::Locked => self.say(
                vec![prompt("vm-locked"), prompt("vm-goodbye")],
                Then::Hangup,
            ),
        }
    }

    /// The shell's answer to [`Command::CheckMailbox`].
    pub fn handle_mailbox_exists(&mut self, _now: Instant, number: &str, exists: bool) {
        if !exists {
            return self.say(vec![prompt("vm-nobox")], Then::Menu("main"));
        }
        let caller = self.mailbox.as_ref().map(|m| m.number.clone());
        self.next_recording = Some(RecordingFor::Message {
            mailbox: number.to_string(),
            caller,
        });
        self.say(vec![prompt("vm-intro"), prompt("beep")], Then::Record);
    }

    /// A key was awaited too long.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_none_or(|d| now < d) {
            return;
        }
        self.deadline = None;
        if self.phase == Phase::Ending {
            self.out.push_back(Command::Hangup);
            self.phase = Phase::Done;
            return;
        }
        if let Phase::Collecting(c) = self.phase {
            if !self.digits.is_empty() {
                return self.submit(now, c);
            }
        }
        self.retries += 1;
        if self.retries >= 3 {
            return self.say(vec![prompt("vm-goodbye")], Then::Hangup);
        }
        match self.phase.clone() {
            Phase::Menu(m) => self.enter_menu_again(m),
            Phase::Collecting(c) => self.collect_again(c),
            _ => {}
        }
    }

    /// The caller hung up. A message being recorded or reviewed is kept (if long enough).
    pub fn handle_hangup(&mut self, _now: Instant) {
        if let Some(take) = self.take.take() {
            let long_enough = take
                .duration_ms
                .is_some_and(|d| d >= self.config.min_message.as_millis() as u64);
            let keep = matches!(take.purpose, RecordingFor::Message { .. }) && long_enough;
            self.out.push_back(if keep {
                Command::KeepTake
            } else {
                Command::DiscardTake
            });
        }
        self.phase = Phase::Done;
        self.deadline = None;
    }

    // ---- helpers ----

    fn skip_ms(&self) -> i64 {
        self.config.skip.as_millis() as i64
    }

    fn play(&mut self, audio: Vec<Audio>) {
        self.deadline = None;
        self.playing = true;
        self.out.push_back(Command::Play(audio));
    }

    fn stop_playing(&mut self) {
        if self.playing {
            self.playing = false;
            self.out.push_back(Command::StopPlay);
        }
    }

    fn say(&mut self, audio: Vec<Audio>, then: Then) {
        self.phase = Phase::Saying(then);
        self.play(audio);
    }

    fn then(&mut self, now: Instant, then: Then) {
        match then {
            Then::Menu(m) => self.enter_menu(m),
            Then::Record => self.start_recording(),
            Then::Collect(c) => self.collect(c),
            Then::Hangup => {
                self.phase = Phase::Ending;
                self.deadline = Some(now + HANGUP_LINGER);
            }
            Then::PlayMessage => self.play_current(now),
            Then::LoggedIn => {
                let audio = self.counts();
                self.say(audio, Then::Menu("main"));
            }
            Then::Join => {
                self.phase = Phase::InConference;
                self.deadline = None;
                self.out.push_back(Command::JoinConference);
            }
        }
    }

    fn menu_prompt(&self, id: &'static str) -> Vec<Audio> {
        let menu = self.profile.menu(id);
        let ids: Vec<&'static str> = match &menu.prompt {
            MenuPrompt::Fixed(p) => p.clone(),
            MenuPrompt::IfTemporary { active, inactive } => {
                if self.greetings().temporary {
                    active.clone()
                } else {
                    inactive.clone()
                }
            }
        };
        let mut audio: Vec<Audio> = ids.into_iter().map(prompt).collect();
        let deposit_review = id == "review"
            && matches!(
                self.take.as_ref().map(|t| &t.purpose),
                Some(RecordingFor::Message { .. })
            )
            && self.mailbox.is_none();
        if deposit_review && self.config.operator {
            audio.push(prompt("vm-review-operator"));
        }
        audio
    }

    fn enter_menu(&mut self, id: &'static str) {
        self.retries = 0;
        self.enter_menu_again(id);
    }

    fn enter_menu_again(&mut self, id: &'static str) {
        self.phase = Phase::Menu(id);
        let audio = self.menu_prompt(id);
        self.play(audio);
    }

    fn collect(&mut self, c: Collect) {
        self.retries = 0;
        self.collect_again(c);
    }

    fn collect_again(&mut self, c: Collect) {
        self.digits.clear();
        self.phase = Phase::Collecting(c);
        let id = match c {
            Collect::Mailbox => "vm-login",
            Collect::Pin => "vm-password",
            Collect::NewPin => "vm-newpassword",
            Collect::PinAgain => "vm-reenterpassword",
            Collect::Target => "vm-leavemsg-to",
            Collect::ConferenceId => "conf-getconfno",
            Collect::ConferencePassword => "conf-getpin",
        };
        self.play(vec![prompt(id)]);
    }

    fn submit(&mut self, now: Instant, c: Collect) {
        let digits = std::mem::take(&mut self.digits);
        self.deadline = None;
        match c {
            Collect::Mailbox => {
                if digits.is_empty() {
                    return self.collect_again(c);
                }
                self.login_number = Some(digits);
                self.collect(Collect::Pin);
            }
            Collect::Pin => {
                let mailbox = self.login_number.clone().unwrap_or_default();
                self.phase = Phase::Waiting;
                self.out.push_back(Command::Login {
                    mailbox,
                    // Collected keys are at most 20 digits: always a valid entry.
                    pin: Some(Pin::new(digits).unwrap_or_else(Pin::empty)),
                });
            }
            Collect::NewPin => {
                let number = self.mailbox().unwrap_or_default().to_string();
                match pin::check(&digits, self.config.pin_min_len, &number) {
                    Ok(p) => {
                        self.new_pin = Some(p);
                        self.collect(Collect::PinAgain);
                    }
                    Err(PinProblem::TooShort(n)) => {
                        let mut audio = vec![prompt("vm-pass-short")];
                        audio.extend(say::number(n as u32));
                        audio.push(prompt("vm-digits"));
                        self.say(audio, Then::Collect(Collect::NewPin));
                    }
                    Err(PinProblem::Trivial) => self.say(
                        vec![prompt("vm-pass-trivial")],
                        Then::Collect(Collect::NewPin),
                    ),
                    Err(PinProblem::NotDigits | PinProblem::TooLong(_)) => {
                        self.say(vec![prompt("vm-sorry")], Then::Collect(Collect::NewPin))
                    }
                }
            }
            Collect::PinAgain => {
                if let Some(p) = self.new_pin.take_if(|p| p.expose() == digits) {
                    self.out.push_back(Command::SetPin(p));
                    if let Some(m) = self.mailbox.as_mut() {
                        m.pin_is_default = false;
                    }
                    let then = if std::mem::take(&mut self.forced_pin_change) {
                        Then::LoggedIn
                    } else {
                        Then::Menu("options")
                    };
                    self.say(vec![prompt("vm-passchanged")], then);
                } else {
                    self.new_pin = None;
                    self.say(vec![prompt("vm-mismatch")], Then::Collect(Collect::NewPin));
                }
            }
            Collect::Target => {
                if digits.is_empty() {
                    return self.enter_menu("main");
                }
                self.phase = Phase::Waiting;
                let _ = now;
                self.out.push_back(Command::CheckMailbox(digits));
            }
            Collect::ConferenceId | Collect::ConferencePassword if digits.is_empty() => {
                self.collect_again(c)
            }
            Collect::ConferenceId => {
                self.phase = Phase::Waiting;
                self.out.push_back(Command::ConferenceId(digits));
            }
            Collect::ConferencePassword => {
                self.phase = Phase::Waiting;
                // Collected keys are at most 20 digits: always a valid entry.
                self.out.push_back(Command::ConferencePassword(
                    Pin::new(digits).unwrap_or_else(Pin::empty),
                ));
            }
        }
    }

    fn menu_key(&mut self, now: Instant, menu: &'static str, key: char) {
        match self.profile.menu(menu).keys.get(&key).copied() {
            Some(act) => {
                self.retries = 0;
                self.act(now, menu, act);
            }
            None => self.say(vec![prompt("vm-sorry")], Then::Menu(menu)),
        }
    }

    fn act(&mut self, now: Instant, menu: &'static str, act: Act) {
        match act {
            Act::Goto(m) => self.enter_menu(m),
            Act::Help => {
                let audio = self.profile.help.iter().map(|p| prompt(p)).collect();
                self.say(audio, Then::Menu(menu));
            }
            Act::Exit => self.say(vec![prompt("vm-goodbye")], Then::Hangup),
            Act::Listen => {
                self.listing = self.folder_ids(self.folder);
                self.cursor = 0;
                if self.listing.is_empty() {
                    self.say(vec![prompt("vm-nomsgs")], Then::Menu("main"));
                } else {
                    self.play_current(now);
                }
            }
            Act::OpenFolder(f) => {
                self.folder = f;
                let n = self.folder_ids(f).len();
                let mut audio = vec![prompt("vm-youhave")];
                audio.extend(say::count(n, Some(f.prompt())));
                self.say(audio, Then::Menu("main"));
            }
            Act::SaveTo(f) => {
                let Some(id) = self.current_id() else {
                    return self.enter_menu("main");
                };
                self.move_message(id, f);
                let audio = vec![
                    prompt("vm-savedto"),
                    prompt(f.prompt()),
                    prompt("vm-folder"),
                ];
                if f != self.folder {
                    self.listing.remove(self.cursor);
                } else {
                    self.cursor += 1;
                }
                self.say(audio, self.after_removal());
            }
            Act::Previous => {
                if self.cursor == 0 {
                    self.say(vec![prompt("vm-nomore")], Then::Menu("message"));
                } else {
                    self.cursor -= 1;
                    self.play_current(now);
                }
            }
            Act::Repeat => self.play_current(now),
            Act::Next => {
                if self.cursor + 1 >= self.listing.len() {
                    self.say(vec![prompt("vm-nomore")], Then::Menu("main"));
                } else {
                    self.cursor += 1;
                    self.play_current(now);
                }
            }
            Act::Delete => {
                let Some(id) = self.current_id() else {
                    return self.enter_menu("main");
                };
                self.out.push_back(Command::DeleteMessage(id));
                if let Some(m) = self.mailbox.as_mut() {
                    m.messages.retain(|x| x.id != id);
                }
                self.listing.remove(self.cursor);
                self.say(vec![prompt("vm-deleted")], self.after_removal());
            }
            Act::Rewind | Act::FastForward => {}
            Act::RecordGreeting(kind) => {
                let Some(number) = self.mailbox().map(str::to_string) else {
                    return;
                };
                self.next_recording = Some(RecordingFor::Greeting {
                    mailbox: number,
                    kind,
                });
                let p = match kind {
                    GreetingKind::Unavailable => "vm-rec-unv",
                    GreetingKind::Busy => "vm-rec-busy",
                    GreetingKind::Name => "vm-rec-name",
                    GreetingKind::Temporary => "vm-rec-temp",
                    GreetingKind::AnnouncementA => "vm-rec-ann-a",
                    GreetingKind::AnnouncementB => "vm-rec-ann-b",
                    GreetingKind::AnnouncementC => "vm-rec-ann-c",
                };
                self.say(vec![prompt(p), prompt("beep")], Then::Record);
            }
            Act::TemporaryGreeting => {
                if self.greetings().temporary {
                    self.enter_menu("temporary");
                } else {
                    self.act(now, menu, Act::RecordGreeting(GreetingKind::Temporary));
                }
            }
            Act::DeactivateTemporary => {
                let g = self.greetings();
                if !g.temporary {
                    self.say(vec![prompt("vm-sorry")], Then::Menu(menu));
                } else if !g.unavailable {
                    self.say(vec![prompt("vm-need-unavail")], Then::Menu("options"));
                } else {
                    self.out.push_back(Command::DeactivateTemporary);
                    if let Some(m) = self.mailbox.as_mut() {
                        m.greetings.temporary = false;
                    }
                    self.say(vec![prompt("vm-tempremoved")], Then::Menu("options"));
                }
            }
            Act::ChangePin => self.collect(Collect::NewPin),
            Act::LeaveMessage => self.collect(Collect::Target),
            Act::Accept => self.accept(now),
            Act::ListenAgain => self.say(vec![Audio::Take], Then::Menu("review")),
            Act::RecordAgain => {
                if let Some(t) = self.take.take() {
                    self.out.push_back(Command::DiscardTake);
                    self.next_recording = Some(t.purpose);
                }
                self.say(vec![prompt("beep")], Then::Record);
            }
            Act::Operator => {
                // Not offered while recording a greeting, nor when no operator is configured.
                let greeting_take = matches!(
                    self.take.as_ref().map(|t| &t.purpose),
                    Some(RecordingFor::Greeting { .. })
                );
                if !self.config.operator || greeting_take || self.mailbox.is_some() {
                    return self.say(vec![prompt("vm-sorry")], Then::Menu(menu));
                }
                if self.take.take().is_some() {
                    self.out.push_back(Command::KeepTake);
                }
                self.out.push_back(Command::Operator);
                self.phase = Phase::Done;
                self.deadline = None;
            }
            Act::RemoteAccess => {
                self.next_recording = None;
                self.collect(Collect::Pin);
            }
            Act::SkipGreeting if self.announce_only => {
                self.say(vec![prompt("vm-goodbye")], Then::Hangup)
            }
            Act::SkipGreeting => self.say(vec![prompt("beep")], Then::Record),
        }
    }

    fn after_removal(&self) -> Then {
        if self.cursor < self.listing.len() {
            Then::PlayMessage
        } else {
            Then::Menu("main")
        }
    }

    fn accept(&mut self, _now: Instant) {
        let Some(take) = self.take.take() else {
            return self.enter_menu("main");
        };
        self.out.push_back(Command::KeepTake);
        match take.purpose {
            RecordingFor::Message { .. } if self.mailbox.is_none() => self.say(
                vec![prompt("vm-msgsaved"), prompt("vm-goodbye")],
                Then::Hangup,
            ),
            RecordingFor::Message { .. } => {
                self.say(vec![prompt("vm-msgsaved")], Then::Menu("main"))
            }
            RecordingFor::Greeting { kind, .. } => {
                let mut back = "options";
                if let Some(m) = self.mailbox.as_mut() {
                    match kind {
                        GreetingKind::Unavailable => m.greetings.unavailable = true,
                        GreetingKind::Busy => m.greetings.busy = true,
                        GreetingKind::Name => m.greetings.name = true,
                        GreetingKind::Temporary => m.greetings.temporary = true,
                        GreetingKind::AnnouncementA
                        | GreetingKind::AnnouncementB
                        | GreetingKind::AnnouncementC => back = "announcements",
                    }
                }
                self.say(vec![prompt("vm-greetsaved")], Then::Menu(back))
            }
        }
    }

    fn start_recording(&mut self) {
        let Some(purpose) = self.next_recording.take() else {
            return self.enter_menu("main");
        };
        let (max, silence) = match purpose {
            RecordingFor::Message { .. } => (self.config.max_message, Some(self.config.silence)),
            RecordingFor::Greeting { .. } => (self.config.max_greeting, Some(self.config.silence)),
        };
        self.take = Some(Take {
            purpose: purpose.clone(),
            duration_ms: None,
        });
        self.phase = Phase::Recording;
        self.deadline = None;
        self.out.push_back(Command::Record {
            purpose,
            max,
            silence,
        });
    }

    fn greetings(&self) -> Greetings {
        self.mailbox
            .as_ref()
            .map(|m| m.greetings)
            .unwrap_or_default()
    }

    fn folder_ids(&self, f: Folder) -> Vec<i64> {
        self.mailbox
            .as_ref()
            .map(|m| {
                m.messages
                    .iter()
                    .filter(|x| x.folder == f)
                    .map(|x| x.id)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn current_id(&self) -> Option<i64> {
        self.listing.get(self.cursor).copied()
    }

    fn message(&self, id: i64) -> Option<&MessageInfo> {
        self.mailbox
            .as_ref()
            .and_then(|m| m.messages.iter().find(|x| x.id == id))
    }

    fn move_message(&mut self, id: i64, f: Folder) {
        self.out.push_back(Command::MoveMessage { id, folder: f });
        if let Some(m) = self.mailbox.as_mut() {
            if let Some(x) = m.messages.iter_mut().find(|x| x.id == id) {
                x.folder = f;
            }
        }
    }

    fn counts(&self) -> Vec<Audio> {
        let n = |f| self.folder_ids(f).len();
        let (new, old) = (n(Folder::New), n(Folder::Old));
        let mut audio = vec![prompt("vm-youhave")];
        if new == 0 && old == 0 {
            audio.extend(say::count(0, None));
            return audio;
        }
        audio.extend(say::count(new, Some(Folder::New.prompt())));
        if old > 0 {
            audio.push(prompt("vm-and"));
            audio.extend(say::count(old, Some(Folder::Old.prompt())));
        }
        audio
    }

    /// Say the current message's envelope, then play it; a new message becomes old once heard.
    fn play_current(&mut self, _now: Instant) {
        let Some(id) = self.current_id() else {
            return self.enter_menu("main");
        };
        let Some(info) = self.message(id).cloned() else {
            return self.enter_menu("main");
        };
        let mut audio = Vec::new();
        if self.cursor == 0 {
            audio.push(prompt("vm-first"));
        } else if self.cursor + 1 == self.listing.len() {
            audio.push(prompt("vm-last"));
        }
        audio.push(prompt("vm-message"));
        audio.extend(say::number(self.cursor as u32 + 1));
        audio.push(prompt("vm-received"));
        audio.extend(say::date_time(info.received));
        match &info.caller {
            Some(c) if info.caller_is_extension => {
                audio.push(prompt("vm-from-extension"));
                audio.extend(say::digits(c));
            }
            Some(c) if !say::digits(c).is_empty() => {
                audio.push(prompt("vm-from-phonenumber"));
                audio.extend(say::digits(c));
            }
            _ => audio.push(prompt("vm-from-unknown")),
        }
        audio.push(Audio::Message(id));
        if info.folder == Folder::New {
            self.move_message(id, Folder::Old);
        }
        self.phase = Phase::PlayingMessage;
        self.play(audio);
    }
}

fn prompt(id: &str) -> Audio {
    Audio::Prompt(id.to_string())
}

/// The greeting a caller hears: temporary if active; else busy or unavailable by reason; else the
/// system greeting with the recorded name, or the extension's number.
fn greeting_audio(d: &Deposit) -> Vec<Audio> {
    let g = d.greetings;
    let greeting = |kind| {
        vec![Audio::Greeting {
            mailbox: d.mailbox.clone(),
            kind,
        }]
    };
    if g.temporary {
        return greeting(GreetingKind::Temporary);
    }
    if let Some(kind) = g.announcement {
        return greeting(kind);
    }
    match d.reason {
        Reason::Busy if g.busy => return greeting(GreetingKind::Busy),
        Reason::NoAnswer | Reason::Unavailable if g.unavailable => {
            return greeting(GreetingKind::Unavailable)
        }
        _ => {}
    }
    let mut audio = if g.name {
        greeting(GreetingKind::Name)
    } else {
        let mut a = vec![prompt("vm-theperson")];
        a.extend(say::digits(&d.mailbox));
        a
    };
    audio.push(prompt(if d.reason == Reason::Busy {
        "vm-isonphone"
    } else {
        "vm-isunavail"
    }));
    audio
}

#[cfg(test)]
mod tests;
