//! Brute-force protection for digest authentication, HTTP logins and PINs: counts failures per source
//! address and per account in a sliding window and locks them out for a time that doubles with each
//! repeat lockout (a success clears nothing; failures age out). A locked account stays usable from
//! addresses where it is registered, so an attacker cannot knock a working phone offline. Slow checks (argon2) are reserved before they start
//! ([`AuthGuard::begin`]), so parallel guesses cannot outrun the count. IPv6 sources count per /64;
//! account names are capped in length; both tables are bounded. No IO: time comes in as `now`.

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

/// Most entries kept per table (addresses, accounts); a full table evicts an entry that is not locked,
/// and refuses new attempts when every entry is locked or busy.
pub const GUARD_TABLE_LIMIT: usize = 10_000;

/// Longest account name kept (in characters); longer names are cut before they are stored or logged.
pub const ACCOUNT_NAME_LIMIT: usize = 64;

#[derive(Debug, Default, Clone)]
struct Entry {
    failures: Vec<Instant>,
    /// Checks begun and not yet ended.
    in_flight: u32,
    locked_until: Option<Instant>,
    lockouts: u32,
}

/// What was locked by a failure, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lockout {
    /// A source address (an IPv6 address stands for its /64).
    Address(IpAddr, Duration),
    /// An account.
    Account(String, Duration),
}

/// Why an attempt may not begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The address or account is locked out.
    Locked,
    /// Every attempt left in the window is already being checked (parallel guesses), or the tables
    /// are full: try again later.
    Busy,
}

/// Failure counters and lockouts.
#[derive(Debug, Default)]
pub struct AuthGuard {
    config: GuardConfig,
    addresses: HashMap<IpAddr, Entry>,
    accounts: HashMap<String, Entry>,
}

/// The key an address is counted under: IPv4 as it is (also when mapped into IPv6), IPv6 by its /64,
/// the block one subscriber usually holds.
pub fn address_key(addr: IpAddr) -> IpAddr {
    match crate::target::canonical_ip(addr) {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// An account name as stored and logged: at most [`ACCOUNT_NAME_LIMIT`] characters.
pub fn account_key(name: &str) -> String {
    name.chars().take(ACCOUNT_NAME_LIMIT).collect()
}

impl Entry {
    fn locked(&self, now: Instant) -> bool {
        self.locked_until.is_some_and(|t| now < t)
    }

    fn recent(&mut self, now: Instant, window: Duration) -> u32 {
        self.failures
            .retain(|t| now.saturating_duration_since(*t) < window);
        self.failures.len() as u32
    }

    fn fail(&mut self, now: Instant, config: &GuardConfig) -> Option<Duration> {
        self.recent(now, config.window);
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

    /// Nothing left to remember.
    fn idle(&mut self, now: Instant, window: Duration) -> bool {
        self.recent(now, window) == 0
            && self.in_flight == 0
            && !self.locked(now)
            && !(self.lockouts > 0
                && self
                    .locked_until
                    .is_some_and(|t| now < t + Duration::from_secs(86_400)))
    }
}

/// The entry for `key`, made room for in a bounded table; `None` when the table is full of entries
/// that must be kept.
fn entry_in<'a, K: std::hash::Hash + Eq + Clone>(
    table: &'a mut HashMap<K, Entry>,
    key: &K,
    now: Instant,
    window: Duration,
) -> Option<&'a mut Entry> {
    if !table.contains_key(key) && table.len() >= GUARD_TABLE_LIMIT {
        table.retain(|_, e| !e.idle(now, window));
        if table.len() >= GUARD_TABLE_LIMIT {
            // The entry with the least to remember goes: never a locked one or one being checked.
            let evict = table
                .iter()
                .filter(|(_, e)| !e.locked(now) && e.in_flight == 0)
                .min_by_key(|(_, e)| (e.failures.len(), e.failures.last().copied()))
                .map(|(k, _)| k.clone());
            table.remove(&evict?);
        }
    }
    Some(table.entry(key.clone()).or_default())
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
        if self
            .addresses
            .get(&address_key(addr))
            .is_some_and(|e| e.locked(now))
        {
            return true;
        }
        !registered_from_addr
            && account
                .and_then(|a| self.accounts.get(&account_key(a)))
                .is_some_and(|e| e.locked(now))
    }

    /// Reserve one attempt before a slow check (argon2): refused when locked, or when the attempts
    /// already being checked would use up what is left in the window. Every `begin` that returns `Ok`
    /// must be followed by one [`AuthGuard::end`] with the same address and account.
    pub fn begin(
        &mut self,
        now: Instant,
        addr: IpAddr,
        account: Option<&str>,
    ) -> Result<(), Refusal> {
        if self.is_locked(now, addr, account, false) {
            return Err(Refusal::Locked);
        }
        let (max, window) = (self.config.max_failures, self.config.window);
        let addr = address_key(addr);
        let account = account.map(account_key);
        let busy = |e: Option<&mut Entry>| match e {
            Some(e) => e.recent(now, window) + e.in_flight >= max,
            None => false,
        };
        if busy(self.addresses.get_mut(&addr))
            || account
                .as_ref()
                .is_some_and(|a| busy(self.accounts.get_mut(a)))
        {
            return Err(Refusal::Busy);
        }
        if entry_in(&mut self.addresses, &addr, now, window).is_none() {
            return Err(Refusal::Busy);
        }
        if let Some(a) = &account {
            if entry_in(&mut self.accounts, a, now, window).is_none() {
                return Err(Refusal::Busy);
            }
            if let Some(e) = self.accounts.get_mut(a) {
                e.in_flight += 1;
            }
        }
        if let Some(e) = self.addresses.get_mut(&addr) {
            e.in_flight += 1;
        }
        Ok(())
    }

    /// End an attempt reserved with [`AuthGuard::begin`]: a failure counts (and may lock). A success
    /// clears nothing: failures age out of the window, so logging in to one's own account between
    /// guesses at others buys no more guesses. Returns what it locked.
    pub fn end(
        &mut self,
        now: Instant,
        addr: IpAddr,
        account: Option<&str>,
        success: bool,
    ) -> Vec<Lockout> {
        let key = address_key(addr);
        if let Some(e) = self.addresses.get_mut(&key) {
            e.in_flight = e.in_flight.saturating_sub(1);
        }
        if let Some(e) = account.and_then(|a| self.accounts.get_mut(&account_key(a))) {
            e.in_flight = e.in_flight.saturating_sub(1);
        }
        if success {
            Vec::new()
        } else {
            self.record_failure(now, addr, account)
        }
    }

    /// Count a failed authentication; returns what it locked, if anything. `account` is `None` when
    /// the name is not a known account (only the address counts then, so that made-up names cannot
    /// fill the table).
    pub fn record_failure(
        &mut self,
        now: Instant,
        addr: IpAddr,
        account: Option<&str>,
    ) -> Vec<Lockout> {
        let mut out = Vec::new();
        let (config, window) = (self.config.clone(), self.config.window);
        let key = address_key(addr);
        if let Some(d) =
            entry_in(&mut self.addresses, &key, now, window).and_then(|e| e.fail(now, &config))
        {
            out.push(Lockout::Address(key, d));
        }
        if let Some(a) = account.map(account_key) {
            if let Some(d) =
                entry_in(&mut self.accounts, &a, now, window).and_then(|e| e.fail(now, &config))
            {
                out.push(Lockout::Account(a, d));
            }
        }
        out
    }

    /// Forget entries with nothing left to remember (call now and then).
    pub fn prune(&mut self, now: Instant) {
        let window = self.config.window;
        self.addresses.retain(|_, e| !e.idle(now, window));
        self.accounts.retain(|_, e| !e.idle(now, window));
    }

    /// How many addresses and accounts are remembered.
    pub fn len(&self) -> (usize, usize) {
        (self.addresses.len(), self.accounts.len())
    }

    /// Lift the lockout and forget the failures of an account, or of an address when `what` is one
    /// (the administrator's "unlock"). Returns whether there was anything to forget.
    pub fn unlock(&mut self, what: &str) -> bool {
        match what.parse::<IpAddr>() {
            Ok(addr) => self.addresses.remove(&address_key(addr)).is_some(),
            Err(_) => self.accounts.remove(&account_key(what)).is_some(),
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
                .record_failure(t + Duration::from_secs(i), ip(1), Some("100"))
                .is_empty());
        }
        let locked = g.record_failure(t + Duration::from_secs(9), ip(1), Some("100"));
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
                .record_failure(t + Duration::from_secs(i * 60), ip(1), Some("100"))
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
        g.record_failure(t, ip(1), Some("100"));
        let first = g.record_failure(t, ip(1), Some("100"));
        assert_eq!(first[0], Lockout::Address(ip(1), Duration::from_secs(10)));
        let t2 = t + Duration::from_secs(11);
        g.record_failure(t2, ip(1), Some("100"));
        let second = g.record_failure(t2, ip(1), Some("100"));
        assert_eq!(second[0], Lockout::Address(ip(1), Duration::from_secs(20)));
        assert_eq!(
            g.locked_accounts(t2),
            vec![("100".to_string(), Duration::from_secs(20))]
        );
    }

    #[test]
    fn parallel_slow_checks_cannot_outrun_the_count() {
        let mut g = AuthGuard::new(GuardConfig::default());
        let t = crate::test_epoch();
        // 400 guesses arrive at once: only as many checks begin as failures are left in the window.
        let begun = (0..400)
            .filter(|_| g.begin(t, ip(1), Some("100")).is_ok())
            .count();
        assert_eq!(begun, 10);
        assert_eq!(g.begin(t, ip(2), Some("100")), Err(Refusal::Busy));
        for _ in 0..begun {
            g.end(t, ip(1), Some("100"), false);
        }
        assert_eq!(g.begin(t, ip(1), Some("100")), Err(Refusal::Locked));
        assert_eq!(g.begin(t, ip(3), Some("100")), Err(Refusal::Locked));
    }

    #[test]
    fn a_right_answer_among_parallel_checks_does_not_count_as_a_failure() {
        let mut g = AuthGuard::new(GuardConfig::default());
        let t = crate::test_epoch();
        for _ in 0..3 {
            g.begin(t, ip(1), Some("100")).unwrap();
        }
        g.end(t, ip(1), Some("100"), true);
        g.end(t, ip(1), Some("100"), false);
        g.end(t, ip(1), Some("100"), false);
        assert!(!g.is_locked(t, ip(1), Some("100"), false));
        g.prune(t + Duration::from_secs(301));
        assert_eq!(g.len(), (0, 0));
    }

    #[test]
    fn ipv6_sources_count_per_slash_64_and_names_are_capped() {
        let mut g = AuthGuard::new(GuardConfig {
            max_failures: 2,
            ..Default::default()
        });
        let t = crate::test_epoch();
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let long = "9".repeat(10_000);
        g.record_failure(t, a, Some(&long));
        let locked = g.record_failure(t, b, Some(&long));
        assert_eq!(locked.len(), 2);
        assert!(g.is_locked(t, a, None, false));
        assert!(!g.is_locked(t, other, None, false));
        match &locked[1] {
            Lockout::Account(name, _) => assert_eq!(name.chars().count(), ACCOUNT_NAME_LIMIT),
            l => panic!("{l:?}"),
        }
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(address_key(mapped), "192.0.2.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn the_tables_stay_bounded_under_a_spray_of_sources() {
        let mut g = AuthGuard::new(GuardConfig::default());
        let t = crate::test_epoch();
        for n in 0..(GUARD_TABLE_LIMIT as u32 + 500) {
            let addr = IpAddr::from(n.to_be_bytes());
            g.record_failure(t, addr, None);
        }
        assert!(g.len().0 <= GUARD_TABLE_LIMIT);
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
        g.record_failure(t, addr, Some("100"));
        g.record_failure(t, addr, Some("100"));
        assert!(g.is_locked(t, addr, Some("100"), false));
        assert!(g.unlock("192.0.2.7"));
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        assert!(g.is_locked(t, other, Some("100"), false));
        assert!(g.unlock("100"));
        assert!(!g.is_locked(t, addr, Some("100"), false));
        assert!(!g.unlock("100"));
    }
}
