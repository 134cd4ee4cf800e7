//! Bounds on what one account or one source address may hold at once (calls, message-waiting
//! subscriptions, voicemail calls), and the answer a request gets when it would pass one: a clear
//! refusal for it, nothing else affected. No IO: the shell says what is open now.

use std::net::IpAddr;

use crate::sip::StatusCode;
use crate::target::canonical_ip;

/// The bounds.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Calls in progress one account may have as the caller (more get 403).
    pub calls_per_account: usize,
    /// Message-waiting subscriptions per account (more get 403).
    pub subscriptions_per_account: usize,
    /// Messages being left in one mailbox at once, and mailbox menus one caller has open (more get
    /// 486). The owner's own `*97` is always let in.
    pub voicemail_per_account: usize,
    /// Voicemail calls from one source address at once (more get 503; trusted PBXs are exempt).
    pub voicemail_per_address: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            calls_per_account: 8,
            subscriptions_per_account: 20,
            voicemail_per_account: 8,
            voicemail_per_address: 32,
        }
    }
}

/// Why a request is not taken, as its SIP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The status code.
    pub status: StatusCode,
    /// The reason phrase.
    pub reason: &'static str,
    /// Seconds to wait before trying again (`Retry-After`), when it is a matter of time.
    pub retry_after: Option<u32>,
}

/// A voicemail call in progress, as the bounds see it.
#[derive(Debug, Clone, Copy)]
pub struct OpenVoicemail<'a> {
    /// The mailbox a message is being left in (`None`: a mailbox menu).
    pub deposit_into: Option<&'a str>,
    /// The caller.
    pub caller: &'a str,
    /// Where its signalling comes from.
    pub source: IpAddr,
}

/// A voicemail call asking to start.
#[derive(Debug, Clone, Copy)]
pub enum NewVoicemail<'a> {
    /// Leaving a message in `mailbox`.
    Deposit {
        /// The mailbox.
        mailbox: &'a str,
    },
    /// Opening a mailbox menu; `own` for the owner's own `*97`.
    Menu {
        /// The caller.
        caller: &'a str,
        /// The caller's own mailbox, from its own phone.
        own: bool,
    },
}

impl Limits {
    /// A new call from an account that has `in_progress` calls already.
    pub fn admit_call(&self, in_progress: usize) -> Result<(), Refusal> {
        if in_progress >= self.calls_per_account {
            return Err(Refusal {
                status: StatusCode::FORBIDDEN,
                reason: "Too Many Calls In Progress",
                retry_after: None,
            });
        }
        Ok(())
    }

    /// A new message-waiting subscription of an account that holds `held` already.
    pub fn admit_subscription(&self, held: usize) -> Result<(), Refusal> {
        if held >= self.subscriptions_per_account {
            return Err(Refusal {
                status: StatusCode::FORBIDDEN,
                reason: "Too Many Subscriptions",
                retry_after: None,
            });
        }
        Ok(())
    }

    /// A new voicemail call from `source` (`trusted`: a PBX peer), given the ones `open`. Deposits and
    /// menus are counted apart, so callers leaving messages never keep the owner out.
    pub fn admit_voicemail<'a>(
        &self,
        new: NewVoicemail<'_>,
        source: IpAddr,
        trusted: bool,
        open: impl IntoIterator<Item = OpenVoicemail<'a>>,
    ) -> Result<(), Refusal> {
        let (mut same_account, mut same_address) = (0, 0);
        for o in open {
            let counts = match new {
                NewVoicemail::Deposit { mailbox } => o.deposit_into == Some(mailbox),
                NewVoicemail::Menu { caller, .. } => o.deposit_into.is_none() && o.caller == caller,
            };
            same_account += usize::from(counts);
            same_address += usize::from(canonical_ip(o.source) == canonical_ip(source));
        }
        let own = matches!(new, NewVoicemail::Menu { own: true, .. });
        if !own && same_account >= self.voicemail_per_account {
            return Err(Refusal {
                status: StatusCode::BUSY_HERE,
                reason: "Too Many Voicemail Calls For This Mailbox",
                retry_after: None,
            });
        }
        if !trusted && same_address >= self.voicemail_per_address {
            return Err(Refusal {
                status: StatusCode::SERVICE_UNAVAILABLE,
                reason: "Too Many Voicemail Calls From This Address",
                retry_after: Some(30),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    fn limits() -> Limits {
        Limits {
            voicemail_per_account: 2,
            voicemail_per_address: 3,
            ..Default::default()
        }
    }

    #[test]
    fn calls_and_subscriptions_stop_at_their_bound() {
        let l = Limits::default();
        assert!(l.admit_call(7).is_ok());
        assert_eq!(l.admit_call(8).unwrap_err().status, 403);
        assert!(l.admit_subscription(19).is_ok());
        assert_eq!(
            l.admit_subscription(20).unwrap_err().reason,
            "Too Many Subscriptions"
        );
    }

    #[test]
    fn callers_leaving_messages_never_keep_the_owner_out() {
        let l = limits();
        let deposits = [
            OpenVoicemail {
                deposit_into: Some("101"),
                caller: "100",
                source: ip(1),
            },
            OpenVoicemail {
                deposit_into: Some("101"),
                caller: "102",
                source: ip(2),
            },
        ];
        let third = NewVoicemail::Deposit { mailbox: "101" };
        assert_eq!(
            l.admit_voicemail(third, ip(4), false, deposits)
                .unwrap_err()
                .status,
            486
        );
        // Another mailbox, the owner's *97, and the owner's other menus are not counted with them.
        assert!(l
            .admit_voicemail(
                NewVoicemail::Deposit { mailbox: "102" },
                ip(4),
                false,
                deposits
            )
            .is_ok());
        let own = NewVoicemail::Menu {
            caller: "101",
            own: true,
        };
        assert!(l.admit_voicemail(own, ip(5), false, deposits).is_ok());
        let menu = NewVoicemail::Menu {
            caller: "101",
            own: false,
        };
        assert!(l.admit_voicemail(menu, ip(5), false, deposits).is_ok());
    }

    #[test]
    fn one_address_is_bounded_unless_it_is_a_trusted_pbx() {
        let l = limits();
        let open: Vec<_> = ["100", "102", "103"]
            .iter()
            .map(|c| OpenVoicemail {
                deposit_into: None,
                caller: c,
                source: ip(9),
            })
            .collect();
        let new = NewVoicemail::Deposit { mailbox: "105" };
        let r = l
            .admit_voicemail(new, ip(9), false, open.iter().copied())
            .unwrap_err();
        assert_eq!(
            (r.status, r.retry_after),
            (StatusCode::SERVICE_UNAVAILABLE, Some(30))
        );
        assert!(l
            .admit_voicemail(new, ip(9), true, open.iter().copied())
            .is_ok());
        assert!(l.admit_voicemail(new, ip(8), false, open).is_ok());
    }
}
