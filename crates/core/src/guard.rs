//! Brute-force protection for digest authentication: counts failures per source address and per
//! account in a sliding window and locks them out for a time that doubles with each repeat lockout.
//! A locked account stays usable from addresses where it is registered, so an attacker cannot knock a
//! working phone offline. No IO: time comes in as `now`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Lockout settings.
#[derive(Debug, Clone)]
pub struct GuardConfig {
    /// Failures within `window` that lock a source address or an account.
    pub max_failures: u32,
    /// The window failures are counted in.
    pub window: Duration,
    /// First lockout length; each further lockout of the same key doubles it (up to 24 h).
    pub lockout: Duration,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            max_failures: 10,
            window: Duration::from_secs(300),
            lockout: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Entry {
    failures: Vec<Instant>,
    locked_until: Option<Instant>,
    lockouts: u32,
}

/// What was locked by a failure, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lockout {
    /// A source address.
    Address(IpAddr, Duration),
    /// An account.
    Account(String, Duration),
}

/// Failure counters and lockouts.
#[derive(Debug, Default)]
pub struct AuthGuard {
    config: GuardConfig,
    addresses: HashMap<IpAddr, Entry>,
    accounts: HashMap<String, Entry>,
}

impl Entry {
    fn locked(&self, now: Instant) -> bool {
        self.locked_until.is_some_and(|t| now < t)
    }

    fn fail(&mut self, now: Instant, config: &GuardConfig) -> Option<Duration> {
        self.failures
            .retain(|t| now.saturating_duration_since(*t) < config.window);
        self.failures.push(now);
        if self.failures.len() as u32 >= config.max_failures && !self.locked(now) {
            let factor = 1u32 << self.lockouts.min(8);
            let length = (config.lockout * factor).min(Duration::from_secs(86_400));
            self.lockouts += 1;
            self.locked_until = Some(now + length);
            self.failures.clear();
            return Some(length);
        }
        None
    }
}

impl AuthGuard {
    /// A guard with the given settings.
    pub fn new(config: GuardConfig) -> Self {
        AuthGuard {
            config,
            ..Default::default()
        }
    }

    /// Whether requests from `addr` for `account` must be refused without checking credentials.
    /// `registered_from_addr` tells whether the account has a live registration from that address.
    pub fn is_locked(
        &self,
        now: Instant,
        addr: IpAddr,
        account: Option<&str>,
        registered_from_addr: bool,
    ) -> bool {
        if self.addresses.get(&addr).is_some_and(|e| e.locked(now)) {
            return true;
        }
        !registered_from_addr
            && account
                .and_then(|a| self.accounts.get(a))
                .is_some_and(|e| e.locked(now))
    }

    /// Count a failed authentication; returns what it locked, if anything.
    pub fn record_failure(&mut self, now: Instant, addr: IpAddr, account: &str) -> Vec<Lockout> {
        let mut out = Vec::new();
        if let Some(d) = self
            .addresses
            .entry(addr)
            .or_default()
            .fail(now, &self.config)
        {
            out.push(Lockout::Address(addr, d));
        }
        if let Some(d) = self
            .accounts
            .entry(account.to_string())
            .or_default()
            .fail(now, &self.config)
        {
            out.push(Lockout::Account(account.to_string(), d));
        }
        out
    }

    /// A successful authentication clears the address's failure count (not an existing lockout).
    pub fn record_success(&mut self, addr: IpAddr) {
        if let Some(e) = self.addresses.get_mut(&addr) {
            e.failures.clear();
        }
    }

    /// Forget entries with nothing left to remember (call now and then).
    pub fn prune(&mut self, now: Instant) {
        let window = self.config.window;
        let keep = |e: &mut Entry| {
            e.failures
                .retain(|t| now.saturating_duration_since(*t) < window);
            e.locked(now)
                || !e.failures.is_empty()
                || e.lockouts > 0
                    && e.locked_until
                        .is_some_and(|t| now < t + Duration::from_secs(86_400))
        };
        self.addresses.retain(|_, e| keep(e));
        self.accounts.retain(|_, e| keep(e));
    }

    /// Lift the lockout and forget the failures of an account, or of an address when `what` is one
    /// (the administrator's "unlock"). Returns whether there was anything to forget.
    pub fn unlock(&mut self, what: &str) -> bool {
        match what.parse::<IpAddr>() {
            Ok(addr) => self.addresses.remove(&addr).is_some(),
            Err(_) => self.accounts.remove(what).is_some(),
        }
    }

    /// Accounts locked now, with the time left, for the administrator.
    pub fn locked_accounts(&self, now: Instant) -> Vec<(String, Duration)> {
        let mut v: Vec<_> = self
            .accounts
            .iter()
            .filter_map(|(k, e)| {
                e.locked_until
                    .filter(|t| now < *t)
                    .map(|t| (k.clone(), t - now))
            })
            .collect();
        v.sort();
        v
    }

    /// Source addresses locked now, with the time left.
    pub fn locked_addresses(&self, now: Instant) -> Vec<(IpAddr, Duration)> {
        let mut v: Vec<_> = self
            .addresses
            .iter()
            .filter_map(|(k, e)| e.locked_until.filter(|t| now < *t).map(|t| (*k, t - now)))
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn ten_failures_lock_the_address_and_the_account() {
        let mut g = AuthGuard::new(GuardConfig::default());
        let t = crate::test_epoch();
        for i in 0..9 {
            assert!(g
                .record_failure(t + Duration::from_secs(i), ip(1), "100")
                .is_empty());
        }
        let locked = g.record_failure(t + Duration::from_secs(9), ip(1), "100");
        assert_eq!(locked.len(), 2);
        assert!(g.is_locked(t + Duration::from_secs(10), ip(1), Some("100"), false));
        // Another address trying the locked account is refused too, unless the account is registered there.
        assert!(g.is_locked(t + Duration::from_secs(10), ip(2), Some("100"), false));
        assert!(!g.is_locked(t + Duration::from_secs(10), ip(2), Some("100"), true));
        assert!(!g.is_locked(t + Duration::from_secs(10), ip(2), Some("101"), false));
        assert!(!g.is_locked(t + Duration::from_secs(310), ip(1), Some("100"), false));
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let mut g = AuthGuard::new(GuardConfig::default());
        let t = crate::test_epoch();
        for i in 0..20u64 {
            assert!(g
                .record_failure(t + Duration::from_secs(i * 60), ip(1), "100")
                .is_empty());
        }
    }

    #[test]
    fn repeated_lockouts_grow() {
        let cfg = GuardConfig {
            max_failures: 2,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(10),
        };
        let mut g = AuthGuard::new(cfg);
        let t = crate::test_epoch();
        g.record_failure(t, ip(1), "100");
        let first = g.record_failure(t, ip(1), "100");
        assert_eq!(first[0], Lockout::Address(ip(1), Duration::from_secs(10)));
        let t2 = t + Duration::from_secs(11);
        g.record_failure(t2, ip(1), "100");
        let second = g.record_failure(t2, ip(1), "100");
        assert_eq!(second[0], Lockout::Address(ip(1), Duration::from_secs(20)));
        assert_eq!(
            g.locked_accounts(t2),
            vec![("100".to_string(), Duration::from_secs(20))]
        );
    }

    #[test]
    fn unlock_lifts_an_account_or_address_lockout() {
        let t = crate::test_epoch();
        let addr: IpAddr = "192.0.2.7".parse().unwrap();
        let mut g = AuthGuard::new(GuardConfig {
            max_failures: 2,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(60),
        });
        g.record_failure(t, addr, "100");
        g.record_failure(t, addr, "100");
        assert!(g.is_locked(t, addr, Some("100"), false));
        assert!(g.unlock("192.0.2.7"));
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        assert!(g.is_locked(t, other, Some("100"), false));
        assert!(g.unlock("100"));
        assert!(!g.is_locked(t, addr, Some("100"), false));
        assert!(!g.unlock("100"));
    }
}
