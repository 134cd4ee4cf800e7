//! Requests to the running switch from the HTTP side or the command line. Replies are callbacks, so
//! that whoever asks picks the channel (the web face uses a tokio oneshot) and this crate needs none.

use std::fmt;

/// Where the answer to a control request goes.
pub type Reply<T> = Box<dyn FnOnce(T) + Send>;

/// A request to the running switch.
pub enum Control {
    /// "MWI calibrate": force the message-waiting lamp of a mailbox's phones on or off; answers the
    /// number of phones notified.
    SetLamp {
        /// Mailbox.
        mailbox: String,
        /// Lamp on or off.
        on: bool,
        /// Reply.
        reply: Reply<usize>,
    },
    /// A mailbox changed outside the phone menus: re-announce its counts.
    MailboxChanged(String),
    /// An account was removed: its registrations and message-waiting subscriptions go now, not when
    /// they would lapse.
    AccountRemoved(String),
    /// The trunks changed in the store: read them again now (rather than at the next minute).
    TrunksChanged,
    /// Lift the lockouts of an account, mailbox or address (SIP digest and voicemail PIN guards);
    /// answers whether anything was locked or counted.
    Unlock {
        /// An extension or an IP address.
        what: String,
        /// Reply.
        reply: Reply<bool>,
    },
    /// End a conference in session (its Creator or a Moderator asked): every participant is told and
    /// its call ends; answers how many were in it.
    EndConference {
        /// The conference.
        conference: crate::conference::ConferenceId,
        /// Reply.
        reply: Reply<usize>,
    },
    /// Disconnect one participant of a conference (its call ends); answers whether it was in that
    /// conference.
    Disconnect {
        /// The conference.
        conference: crate::conference::ConferenceId,
        /// The participant's call, as the status lists it.
        call: u64,
        /// Reply.
        reply: Reply<bool>,
    },
}

impl fmt::Debug for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Control::SetLamp { mailbox, on, .. } => f
                .debug_struct("SetLamp")
                .field("mailbox", mailbox)
                .field("on", on)
                .finish(),
            Control::MailboxChanged(m) => f.debug_tuple("MailboxChanged").field(m).finish(),
            Control::AccountRemoved(m) => f.debug_tuple("AccountRemoved").field(m).finish(),
            Control::TrunksChanged => f.write_str("TrunksChanged"),
            Control::Unlock { what, .. } => f.debug_struct("Unlock").field("what", what).finish(),
            Control::EndConference { conference, .. } => f
                .debug_struct("EndConference")
                .field("conference", conference)
                .finish(),
            Control::Disconnect {
                conference, call, ..
            } => f
                .debug_struct("Disconnect")
                .field("conference", conference)
                .field("call", call)
                .finish(),
        }
    }
}
