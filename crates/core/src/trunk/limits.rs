//! Toll-fraud limits on calls to the outside: how many one user and the whole system may have at
//! once, and how many they may place in an hour. Stolen credentials are the usual way a PBX runs up
//! a carrier bill overnight; these limits cap the damage and tell the administrators when one trips.
//!
//! Without IO: [`Hourly`] counts the calls placed in a sliding hour and decides, for each refusal,
//! whether it is audited and whether it alerts (once per limit and hour). Emergency calls are never
//! checked and never counted.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// The window the hourly limits count in.
pub const HOUR: Duration = Duration::from_secs(3600);

/// Refusals of one limit audited per hour; past this they are only logged (a fraudster retrying in
/// a loop must not fill the audit log).
pub const AUDITED_PER_HOUR: u32 = 20;

/// Users the counters remember at most; past this, the ones with nothing left in the window are
/// forgotten (only authenticated accounts dial out, so this is never reached in practice).
const MAX_USERS: usize = 50_000;

/// The limits (`0`: no limit of that kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutsideLimits {
    /// Outside calls one user may have at once.
    pub per_user: u32,
    /// Outside calls the system may have at once.
    pub total: u32,
    /// Outside calls one user may place in an hour.
    pub per_user_hour: u32,
    /// Outside calls the system may place in an hour.
    pub total_hour: u32,
}

impl Default for OutsideLimits {
    /// On by default: 2 at once and 20 an hour per user, 16 at once and 120 an hour in all.
    fn default() -> Self {
        OutsideLimits {
            per_user: 2,
            total: 16,
            per_user_hour: 20,
            total_hour: 120,
        }
    }
}

/// Whose limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The caller's own.
    User,
    /// The whole system's.
    System,
}

/// Which limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Calls at once.
    Simultaneous,
    /// Calls in an hour.
    Hourly,
}

/// A limit an attempt ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tripped {
    /// Whose.
    pub scope: Scope,
    /// Which.
    pub kind: Kind,
    /// Its value.
    pub limit: u32,
}

impl Tripped {
    /// The reason given to the caller (in the 403) and to the administrators.
    pub fn reason(&self) -> String {
        let whose = match self.scope {
            Scope::User => "per user",
            Scope::System => "for the system",
        };
        match self.kind {
            Kind::Simultaneous => {
                format!("Outside call limit reached: {} at once {whose}", self.limit)
            }
            Kind::Hourly => format!("Outside call limit reached: {} an hour {whose}", self.limit),
        }
    }

    /// A short name for logs, audit entries and alerts (`user.hourly`, `system.simultaneous`).
    pub fn name(&self) -> &'static str {
        match (self.scope, self.kind) {
            (Scope::User, Kind::Simultaneous) => "user.simultaneous",
            (Scope::User, Kind::Hourly) => "user.hourly",
            (Scope::System, Kind::Simultaneous) => "system.simultaneous",
            (Scope::System, Kind::Hourly) => "system.hourly",
        }
    }
}

/// What to do about a refusal besides the 403.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Write an audit entry.
    pub audit: bool,
    /// Alert the administrators (the first refusal of this limit in the hour).
    pub alert: bool,
}

/// Calls placed in the last hour, and the refusals reported in it.
#[derive(Debug, Default)]
pub struct Hourly {
    total: VecDeque<Instant>,
    users: HashMap<String, VecDeque<Instant>>,
    /// Per limit tripped (the user's name for a user's limit): when its hour of reports began and
    /// how many refusals it saw.
    reported: HashMap<(Option<String>, Kind), (Instant, u32)>,
}

fn prune(q: &mut VecDeque<Instant>, now: Instant) {
    while q
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= HOUR)
    {
        q.pop_front();
    }
}

impl Hourly {
    /// The limit `user` would exceed by placing a call now, given the outside calls it (`mine`) and
    /// the system (`all`) have in progress.
    pub fn check(
        &mut self,
        now: Instant,
        user: &str,
        mine: usize,
        all: usize,
        limits: &OutsideLimits,
    ) -> Option<Tripped> {
        let over = |limit: u32, n: usize| limit > 0 && n >= limit as usize;
        prune(&mut self.total, now);
        let placed = self.users.get_mut(user).map_or(0, |q| {
            prune(q, now);
            q.len()
        });
        let trip = |scope, kind, limit| Some(Tripped { scope, kind, limit });
        if over(limits.per_user, mine) {
            trip(Scope::User, Kind::Simultaneous, limits.per_user)
        } else if over(limits.total, all) {
            trip(Scope::System, Kind::Simultaneous, limits.total)
        } else if over(limits.per_user_hour, placed) {
            trip(Scope::User, Kind::Hourly, limits.per_user_hour)
        } else if over(limits.total_hour, self.total.len()) {
            trip(Scope::System, Kind::Hourly, limits.total_hour)
        } else {
            None
        }
    }

    /// `user` placed a call now. Only what a limit needs is kept: no more than the limit's worth of
    /// times, none for a kind without a limit.
    pub fn placed(&mut self, now: Instant, user: &str, limits: &OutsideLimits) {
        let push = |q: &mut VecDeque<Instant>, limit: u32| {
            q.push_back(now);
            while q.len() > limit as usize {
                q.pop_front();
            }
        };
        if limits.total_hour > 0 {
            push(&mut self.total, limits.total_hour);
        }
        if limits.per_user_hour > 0 {
            if self.users.len() >= MAX_USERS && !self.users.contains_key(user) {
                self.users.retain(|_, q| {
                    prune(q, now);
                    !q.is_empty()
                });
            }
            push(
                self.users.entry(user.to_string()).or_default(),
                limits.per_user_hour,
            );
        }
    }

    /// An attempt of `user` was refused by `tripped`: whether to audit it and whether to alert.
    pub fn refused(&mut self, now: Instant, user: &str, tripped: Tripped) -> Report {
        if self.reported.len() >= MAX_USERS {
            self.reported
                .retain(|_, (since, _)| now.saturating_duration_since(*since) < HOUR);
        }
        let who = (tripped.scope == Scope::User).then(|| user.to_string());
        let entry = self.reported.entry((who, tripped.kind)).or_insert((now, 0));
        if now.saturating_duration_since(entry.0) >= HOUR {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        Report {
            audit: entry.1 <= AUDITED_PER_HOUR,
            alert: entry.1 == 1,
        }
    }

    /// Users remembered (for tests of the bound).
    pub fn users(&self) -> usize {
        self.users.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch() -> Instant {
        #[allow(clippy::disallowed_methods)]
        Instant::now()
    }

    const L: OutsideLimits = OutsideLimits {
        per_user: 2,
        total: 3,
        per_user_hour: 4,
        total_hour: 6,
    };

    #[test]
    fn simultaneous_limits_come_first_then_the_hourly_ones() {
        let mut h = Hourly::default();
        let t = epoch();
        assert_eq!(h.check(t, "a", 1, 2, &L), None);
        let tripped = h.check(t, "a", 2, 2, &L).unwrap();
        assert_eq!(
            (tripped.scope, tripped.kind),
            (Scope::User, Kind::Simultaneous)
        );
        assert_eq!(
            tripped.reason(),
            "Outside call limit reached: 2 at once per user"
        );
        let tripped = h.check(t, "a", 0, 3, &L).unwrap();
        assert_eq!(
            (tripped.scope, tripped.kind),
            (Scope::System, Kind::Simultaneous)
        );
        for _ in 0..4 {
            h.placed(t, "a", &L);
        }
        let tripped = h.check(t, "a", 0, 0, &L).unwrap();
        assert_eq!(tripped.name(), "user.hourly");
        assert_eq!(h.check(t, "b", 0, 0, &L), None);
        h.placed(t, "b", &L);
        h.placed(t, "b", &L);
        assert_eq!(h.check(t, "c", 0, 0, &L).unwrap().name(), "system.hourly");
    }

    #[test]
    fn the_hour_slides() {
        let mut h = Hourly::default();
        let t = epoch();
        for i in 0..4 {
            h.placed(t + Duration::from_secs(i * 60), "a", &L);
        }
        assert!(h
            .check(t + HOUR - Duration::from_secs(1), "a", 0, 0, &L)
            .is_some());
        // The first call is an hour old: one more may go.
        assert_eq!(h.check(t + HOUR, "a", 0, 0, &L), None);
    }

    #[test]
    fn no_limit_keeps_nothing() {
        let none = OutsideLimits {
            per_user: 0,
            total: 0,
            per_user_hour: 0,
            total_hour: 0,
        };
        let mut h = Hourly::default();
        let t = epoch();
        for i in 0..1000 {
            h.placed(t, &i.to_string(), &none);
        }
        assert_eq!(h.users(), 0);
        assert_eq!(h.check(t, "1", 1000, 1000, &none), None);
    }

    #[test]
    fn a_limit_alerts_once_an_hour_and_audits_a_bounded_number_of_refusals() {
        let mut h = Hourly::default();
        let t = epoch();
        let trip = Tripped {
            scope: Scope::User,
            kind: Kind::Hourly,
            limit: 4,
        };
        let reports: Vec<Report> = (0..30).map(|_| h.refused(t, "a", trip)).collect();
        assert!(reports[0].alert && reports[0].audit);
        assert!(reports[1..].iter().all(|r| !r.alert));
        assert_eq!(
            reports.iter().filter(|r| r.audit).count(),
            AUDITED_PER_HOUR as usize
        );
        // Another user's limit is its own; the system's is one for all.
        assert!(h.refused(t, "b", trip).alert);
        let sys = Tripped {
            scope: Scope::System,
            ..trip
        };
        assert!(h.refused(t, "a", sys).alert);
        assert!(!h.refused(t, "b", sys).alert);
        // An hour later the limit alerts again.
        assert!(h.refused(t + HOUR, "a", trip).alert);
    }
}
