//! Menu profiles as data: each menu is a prompt and a map from keys to steps. The session interprets
//! any profile; the classic ClusterPBX/Asterisk profile ([`classic`]) uses the seed's keys exactly.

use std::collections::BTreeMap;

use super::{Folder, GreetingKind};

/// What a key does: an operation of the voicemail system. Profiles choose which key triggers which.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// Go to another menu of the profile.
    Goto(&'static str),
    /// Play the help prompt, then this menu again.
    Help,
    /// Say goodbye and hang up.
    Exit,
    /// Listen to the messages of the current folder, from the first.
    Listen,
    /// Make this the current folder and announce its count.
    OpenFolder(Folder),
    /// Save the current message in a folder, then go on to the next.
    SaveTo(Folder),
    /// Previous message.
    Previous,
    /// Play the current message again.
    Repeat,
    /// Next message.
    Next,
    /// Delete the current message, then go on to the next.
    Delete,
    /// Rewind the message playing.
    Rewind,
    /// Fast-forward the message playing.
    FastForward,
    /// Record one of the mailbox's greetings.
    RecordGreeting(GreetingKind),
    /// Turn the temporary greeting off.
    DeactivateTemporary,
    /// The temporary greeting (seed 001, "*97, password, 0, 4"): recorded at once when none is on;
    /// when one is, menu `temporary` offers to record it again or switch it off.
    TemporaryGreeting,
    /// Change the PIN.
    ChangePin,
    /// Leave a message in another mailbox.
    LeaveMessage,
    /// Keep the recording just made.
    Accept,
    /// Play the recording just made.
    ListenAgain,
    /// Record again.
    RecordAgain,
    /// Transfer to the operator.
    Operator,
    /// During a greeting: log in to this mailbox.
    RemoteAccess,
    /// During a greeting: skip to the tone.
    SkipGreeting,
}

impl Act {
    /// What it does, for people (the portal's Phone Functions page).
    pub fn describe(self) -> String {
        use Act::*;
        match self {
            Goto(m) => format!("Go to the {} menu", m.replace('-', " ")),
            Help => "Help".into(),
            Exit => "Hang up".into(),
            Listen => "Listen to the messages".into(),
            OpenFolder(f) => format!("Open the {} folder", f.label()),
            SaveTo(f) => format!("Save the message in {}", f.label()),
            Previous => "Previous message".into(),
            Repeat => "Play the message again".into(),
            Next => "Next message".into(),
            Delete => "Delete the message".into(),
            Rewind => "Rewind".into(),
            FastForward => "Fast-forward".into(),
            RecordGreeting(k) => format!("Record your {} greeting", k.label()),
            DeactivateTemporary => "Switch the temporary greeting off".into(),
            TemporaryGreeting => {
                "Record the temporary greeting (when one is on: 1 record it again, 2 switch it off)"
                    .into()
            }
            ChangePin => "Change your PIN".into(),
            LeaveMessage => "Leave a message in another mailbox".into(),
            Accept => "Keep the recording".into(),
            ListenAgain => "Listen to the recording".into(),
            RecordAgain => "Record again".into(),
            Operator => "Transfer to the operator".into(),
            RemoteAccess => "Log in to this mailbox".into(),
            SkipGreeting => "Skip to the tone".into(),
        }
    }
}

/// A menu's prompt: fixed, or chosen by whether the mailbox has an active temporary greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MenuPrompt {
    /// Always these prompts.
    Fixed(Vec<&'static str>),
    /// These when a temporary greeting is active, those otherwise.
    IfTemporary {
        /// Active temporary greeting.
        active: Vec<&'static str>,
        /// None active.
        inactive: Vec<&'static str>,
    },
}

/// One menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Menu {
    /// What it says.
    pub prompt: MenuPrompt,
    /// Key to step.
    pub keys: BTreeMap<char, Act>,
}

/// A complete set of menus plus the prompts the system speaks outside them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Name ("classic").
    pub name: &'static str,
    /// Menus by id. Required ids: `main`, `message` (after a message), `playing` (while a message
    /// plays), `review` (after a recording), `greeting` (while a greeting plays to a caller).
    pub menus: BTreeMap<&'static str, Menu>,
    /// Said after login in place of the main menu's first run (the counts come before it).
    pub help: Vec<&'static str>,
}

impl Profile {
    /// The menu with this id (profiles are checked by tests to contain every id they name).
    pub fn menu(&self, id: &str) -> &Menu {
        self.menus
            .get(id)
            .unwrap_or_else(|| panic!("profile {} has no menu {id:?}", self.name))
    }
}

impl Profile {
    /// The keys that reach `act` from the main menu (after logging in), shortest first: `"061"`
    /// records announcement A in the classic profile. `None` when the profile does not offer it.
    pub fn keys_for(&self, act: Act) -> Option<String> {
        let mut seen = vec!["main"];
        let mut queue = std::collections::VecDeque::from([("main", String::new())]);
        while let Some((id, path)) = queue.pop_front() {
            let menu = self.menus.get(id)?;
            for (key, a) in &menu.keys {
                let here = format!("{path}{key}");
                // The temporary greeting's key records it (none on) or opens its menu (one on).
                let records_temporary = *a == Act::TemporaryGreeting
                    && act == Act::RecordGreeting(GreetingKind::Temporary);
                if *a == act || records_temporary {
                    return Some(here);
                }
                let next = match a {
                    Act::Goto(next) => Some(next),
                    Act::TemporaryGreeting => Some(&"temporary"),
                    _ => None,
                };
                if let Some(next) = next {
                    if !seen.contains(next) {
                        seen.push(next);
                        queue.push_back((next, here));
                    }
                }
            }
        }
        None
    }

    /// The key of `act` in menu `id`, if that menu offers it.
    pub fn key_in(&self, id: &str, act: Act) -> Option<char> {
        self.menus
            .get(id)?
            .keys
            .iter()
            .find(|(_, a)| **a == act)
            .map(|(k, _)| *k)
    }
}

fn menu(prompt: &[&'static str], keys: &[(char, Act)]) -> Menu {
    Menu {
        prompt: MenuPrompt::Fixed(prompt.to_vec()),
        keys: keys.iter().copied().collect(),
    }
}

fn folder_keys(act: fn(Folder) -> Act, cancel: &'static str) -> Vec<(char, Act)> {
    let mut keys: Vec<(char, Act)> = Folder::ALL
        .iter()
        .enumerate()
        .map(|(i, f)| ((b'0' + i as u8) as char, act(*f)))
        .collect();
    keys.push(('#', Act::Goto(cancel)));
    keys
}

/// The classic profile: ClusterPBX's voicemail menu (seed 001), with Asterisk's keys where the seed is
/// silent (after a message: 4 previous, 5 repeat, 6 next, 7 delete, 9 save).
pub fn classic() -> Profile {
    use Act::*;
    let mut menus = BTreeMap::new();
    menus.insert(
        "main",
        menu(
            &["vm-mainmenu"],
            &[
                ('1', Listen),
                ('2', Goto("change-folder")),
                ('3', Goto("advanced")),
                ('0', Goto("options")),
                ('*', Help),
                ('#', Exit),
            ],
        ),
    );
    menus.insert(
        "change-folder",
        Menu {
            prompt: MenuPrompt::Fixed(vec!["vm-changeto", "vm-folders"]),
            keys: folder_keys(OpenFolder, "main").into_iter().collect(),
        },
    );
    menus.insert(
        "advanced",
        menu(&["vm-advopts"], &[('5', LeaveMessage), ('*', Goto("main"))]),
    );
    menus.insert(
        "options",
        menu(
            &["vm-options"],
            &[
                ('1', RecordGreeting(GreetingKind::Unavailable)),
                ('2', RecordGreeting(GreetingKind::Busy)),
                ('3', RecordGreeting(GreetingKind::Name)),
                ('4', TemporaryGreeting),
                ('5', ChangePin),
                ('6', Goto("announcements")),
                ('*', Goto("main")),
            ],
        ),
    );
    menus.insert(
        "announcements",
        menu(
            &["vm-announcements"],
            &[
                ('1', RecordGreeting(GreetingKind::AnnouncementA)),
                ('2', RecordGreeting(GreetingKind::AnnouncementB)),
                ('3', RecordGreeting(GreetingKind::AnnouncementC)),
                ('*', Goto("options")),
            ],
        ),
    );
    menus.insert(
        "temporary",
        Menu {
            prompt: MenuPrompt::IfTemporary {
                active: vec!["vm-tmpexists", "vm-tempgreeting2"],
                inactive: vec!["vm-tempgreeting"],
            },
            keys: [
                ('1', RecordGreeting(GreetingKind::Temporary)),
                ('2', DeactivateTemporary),
                ('*', Goto("main")),
            ]
            .into_iter()
            .collect(),
        },
    );
    menus.insert(
        "message",
        menu(
            &["vm-msg-options"],
            &[
                ('4', Previous),
                ('5', Repeat),
                ('6', Next),
                ('7', Delete),
                ('9', Goto("save-folder")),
                ('*', Help),
                ('#', Goto("main")),
            ],
        ),
    );
    menus.insert("playing", menu(&[], &[('*', Rewind), ('#', FastForward)]));
    menus.insert(
        "save-folder",
        Menu {
            prompt: MenuPrompt::Fixed(vec!["vm-savefolder", "vm-folders"]),
            keys: folder_keys(SaveTo, "message").into_iter().collect(),
        },
    );
    menus.insert(
        "review",
        menu(
            &["vm-review"],
            &[
                ('1', Accept),
                ('2', ListenAgain),
                ('3', RecordAgain),
                ('0', Operator),
            ],
        ),
    );
    menus.insert(
        "greeting",
        menu(
            &[],
            &[('0', Operator), ('*', RemoteAccess), ('#', SkipGreeting)],
        ),
    );
    Profile {
        name: "classic",
        menus,
        help: vec!["vm-help"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_goto_of_the_classic_profile_names_a_menu() {
        let p = classic();
        for id in ["main", "message", "playing", "review", "greeting"] {
            p.menu(id);
        }
        for m in p.menus.values() {
            for act in m.keys.values() {
                if let Act::Goto(id) = act {
                    assert!(p.menus.contains_key(id), "missing menu {id}");
                }
            }
        }
    }

    #[test]
    fn classic_main_menu_has_the_seed_keys() {
        let p = classic();
        let main = &p.menu("main").keys;
        assert_eq!(main[&'1'], Act::Listen);
        assert_eq!(main[&'2'], Act::Goto("change-folder"));
        assert_eq!(main[&'3'], Act::Goto("advanced"));
        assert_eq!(main[&'0'], Act::Goto("options"));
        assert_eq!(main[&'*'], Act::Help);
        assert_eq!(main[&'#'], Act::Exit);
        assert_eq!(p.menu("advanced").keys[&'5'], Act::LeaveMessage);
        let folders = &p.menu("change-folder").keys;
        assert_eq!(folders[&'0'], Act::OpenFolder(Folder::New));
        assert_eq!(folders[&'4'], Act::OpenFolder(Folder::Friends));
        assert_eq!(folders[&'#'], Act::Goto("main"));
        let options = &p.menu("options").keys;
        assert_eq!(options[&'3'], Act::RecordGreeting(GreetingKind::Name));
        assert_eq!(options[&'5'], Act::ChangePin);
        assert_eq!(p.menu("temporary").keys[&'2'], Act::DeactivateTemporary);
        let review = &p.menu("review").keys;
        assert_eq!(
            (review[&'1'], review[&'2'], review[&'3'], review[&'0']),
            (
                Act::Accept,
                Act::ListenAgain,
                Act::RecordAgain,
                Act::Operator
            )
        );
        let playing = &p.menu("playing").keys;
        assert_eq!(
            (playing[&'*'], playing[&'#']),
            (Act::Rewind, Act::FastForward)
        );
    }

    #[test]
    fn key_sequences_are_found_from_the_main_menu() {
        let p = classic();
        assert_eq!(
            p.keys_for(Act::RecordGreeting(GreetingKind::Unavailable)),
            Some("01".into())
        );
        assert_eq!(
            p.keys_for(Act::RecordGreeting(GreetingKind::Temporary)),
            Some("04".into())
        );
        assert_eq!(
            p.keys_for(Act::RecordGreeting(GreetingKind::AnnouncementC)),
            Some("063".into())
        );
        assert_eq!(p.keys_for(Act::DeactivateTemporary), Some("042".into()));
        assert_eq!(p.key_in("review", Act::Accept), Some('1'));
        assert_eq!(p.keys_for(Act::RemoteAccess), None); // only during a greeting
    }
}
