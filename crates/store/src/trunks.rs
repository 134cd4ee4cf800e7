//! Trunks to carriers: the `trunks` table is their source of truth (`parley trunk` edits it; every
//! node reads it). Every rule a trunk's settings must meet is checked here, once, before a row is
//! written. The password is stored as given (digest challenges are answered with it) and leaves the
//! store only inside a [`ClientSecret`], which `Debug` never shows.

use std::net::IpAddr;

use parley_core::sip::digest::ClientSecret;
use parley_core::trunk::dialplan::DialClass;
use parley_core::trunk::{
    self, keepalive, CallerIdHeader, Codec, Did, DidTarget, NumberFormat, NumberPattern, TrunkName,
    TrunkOptions,
};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::flag;
use crate::{unix_now, Store, StoreError};

/// The shortest and longest registration expiry an administrator may ask for.
pub const EXPIRES_RANGE: std::ops::RangeInclusive<u32> = 60..=86_400;
/// At most this many IP peer addresses per trunk.
pub const MAX_PEERS: usize = 16;
/// The longest trunk password.
pub const MAX_PASSWORD: usize = 128;
/// At most this many number patterns per trunk.
pub const MAX_PATTERNS: usize = 64;

/// A trunk as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trunk {
    /// Its name (the key).
    pub name: String,
    /// The carrier's host name or IP.
    pub host: String,
    /// The carrier's port.
    pub port: u16,
    /// `udp` or `tcp`.
    pub transport: String,
    /// Where requests go instead of the host (`host` or `host:port`).
    pub proxy: Option<String>,
    /// Whether Parley registers (needs a username and a password); otherwise an IP peer.
    pub register: bool,
    /// The account at the carrier.
    pub username: Option<String>,
    /// The digest username when it differs from the account.
    pub auth_username: Option<String>,
    /// The digest password.
    pub password: Option<ClientSecret>,
    /// The registration expiry asked for, in seconds.
    pub expires: u32,
    /// Addresses an IP peer's calls may come from (besides the host's own).
    pub peers: Vec<IpAddr>,
    /// Disabled trunks are kept but neither register nor carry calls.
    pub enabled: bool,
    /// Seconds between OPTIONS keep-alives (0: none).
    pub keepalive: u32,
    /// How numbers are written towards the carrier.
    pub number_format: NumberFormat,
    /// Where the caller ID goes.
    pub caller_id: CallerIdHeader,
    /// The most calls at once, both ways (0: no limit of its own).
    pub max_calls: u32,
    /// The codecs it may be offered (empty: any).
    pub codecs: Vec<Codec>,
    /// The numbers it carries, as E.164 prefixes (empty: every number).
    pub patterns: Vec<NumberPattern>,
}

impl Trunk {
    /// A registering trunk with the defaults (UDP, port 5060, an hour's expiry).
    pub fn registering(name: &str, host: &str, username: &str, password: &str) -> Trunk {
        Trunk {
            register: true,
            username: Some(username.into()),
            password: Some(ClientSecret::new(password)),
            ..Trunk::peer(name, host)
        }
    }

    /// An IP peer with the defaults.
    pub fn peer(name: &str, host: &str) -> Trunk {
        Trunk {
            name: name.into(),
            host: host.into(),
            port: 5060,
            transport: "udp".into(),
            proxy: None,
            register: false,
            username: None,
            auth_username: None,
            password: None,
            expires: 3600,
            peers: Vec::new(),
            enabled: true,
            keepalive: 0,
            number_format: NumberFormat::E164,
            caller_id: CallerIdHeader::From,
            max_calls: 0,
            codecs: Vec::new(),
            patterns: Vec::new(),
        }
    }

    /// `registering` or `peer`.
    pub fn kind(&self) -> &'static str {
        if self.register {
            "registering"
        } else {
            "peer"
        }
    }

    /// Its options, as `parley trunk list` and the audit log show them.
    pub fn options_text(&self) -> String {
        format!(
            "keepalive {} numbers {} caller-id {} max-calls {} codecs {} patterns {}",
            match self.keepalive {
                0 => "off".to_string(),
                s => format!("{s}s"),
            },
            self.number_format.as_str(),
            self.caller_id.as_str(),
            match self.max_calls {
                0 => "any".to_string(),
                n => n.to_string(),
            },
            codecs_text(&self.codecs),
            patterns_text(&self.patterns),
        )
    }

    /// What the audit log says of it: its settings, never its password.
    pub fn describe(&self) -> String {
        format!(
            "{} {}:{} {}{}{}; {}",
            self.kind(),
            self.host,
            self.port,
            self.transport,
            self.username
                .as_ref()
                .map_or(String::new(), |u| format!(" user {u}")),
            if self.enabled { "" } else { " disabled" },
            self.options_text()
        )
    }

    /// Its options as the switch takes them.
    pub fn options(&self) -> TrunkOptions {
        TrunkOptions {
            keepalive: (self.keepalive > 0)
                .then(|| std::time::Duration::from_secs(self.keepalive.into())),
            number_format: self.number_format,
            caller_id: self.caller_id,
            max_calls: (self.max_calls > 0).then_some(self.max_calls),
            codecs: self.codecs.clone(),
            patterns: self.patterns.clone(),
        }
    }

    /// Every rule a trunk meets before it is stored.
    pub fn check(&self) -> Result<(), StoreError> {
        let invalid = |e: trunk::TrunkError| StoreError::Invalid(e.to_string());
        TrunkName::new(&self.name).map_err(invalid)?;
        trunk::check_host(&self.host).map_err(invalid)?;
        if self.port == 0 {
            return Err(StoreError::Invalid("a port is 1-65535".into()));
        }
        if !matches!(self.transport.as_str(), "udp" | "tcp") {
            return Err(StoreError::Invalid(format!(
                "transport is udp or tcp, not {:?}",
                self.transport
            )));
        }
        if let Some(p) = &self.proxy {
            trunk::parse_host_port(p).map_err(invalid)?;
        }
        for user in [&self.username, &self.auth_username].into_iter().flatten() {
            trunk::check_username(user).map_err(invalid)?;
        }
        if let Some(p) = &self.password {
            let p = p.expose();
            if p.is_empty() || p.chars().count() > MAX_PASSWORD || p.chars().any(char::is_control) {
                return Err(StoreError::Invalid(format!(
                    "a trunk password is 1-{MAX_PASSWORD} characters, none of them control characters"
                )));
            }
        }
        if self.register && (self.username.is_none() || self.password.is_none()) {
            return Err(StoreError::Invalid(
                "a registering trunk needs a username and a password".into(),
            ));
        }
        if !EXPIRES_RANGE.contains(&self.expires) {
            return Err(StoreError::Invalid(format!(
                "expires is {}-{} seconds",
                EXPIRES_RANGE.start(),
                EXPIRES_RANGE.end()
            )));
        }
        if self.peers.len() > MAX_PEERS {
            return Err(StoreError::Invalid(format!(
                "at most {MAX_PEERS} peer addresses"
            )));
        }
        let range = keepalive::INTERVAL_RANGE;
        if self.keepalive != 0 && !range.contains(&u64::from(self.keepalive)) {
            return Err(StoreError::Invalid(format!(
                "keepalive is 0 (none) or {}-{} seconds",
                range.start(),
                range.end()
            )));
        }
        if self.max_calls > trunk::MAX_CALLS_LIMIT {
            return Err(StoreError::Invalid(format!(
                "max calls is 0 (no limit) to {}",
                trunk::MAX_CALLS_LIMIT
            )));
        }
        if self.patterns.len() > MAX_PATTERNS {
            return Err(StoreError::Invalid(format!(
                "at most {MAX_PATTERNS} number patterns"
            )));
        }
        Ok(())
    }
}

/// Codecs as an administrator writes them (`pcmu,pcma`; `any` or nothing: any), each once.
pub fn parse_codecs(s: &str) -> Result<Vec<Codec>, StoreError> {
    trunk::parse_codecs(s).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// Number patterns as an administrator writes them (`+1585,+44`; `any` or nothing: every number),
/// each once.
pub fn parse_patterns(s: &str) -> Result<Vec<NumberPattern>, StoreError> {
    trunk::parse_patterns(s).map_err(|e| StoreError::Invalid(e.to_string()))
}

/// A number format by name, or why not.
pub fn parse_number_format(s: &str) -> Result<NumberFormat, StoreError> {
    NumberFormat::parse(s.trim()).ok_or_else(|| {
        StoreError::Invalid(format!(
            "number format is e164, digits or national, not {:?}",
            parley_core::text::printable(s)
        ))
    })
}

/// A caller-ID header by name, or why not.
pub fn parse_caller_id(s: &str) -> Result<CallerIdHeader, StoreError> {
    CallerIdHeader::parse(s.trim()).ok_or_else(|| {
        StoreError::Invalid(format!(
            "caller ID header is from, pai or rpid, not {:?}",
            parley_core::text::printable(s)
        ))
    })
}

/// Codecs as they are written back (`pcmu,pcma`, or `any`).
pub fn codecs_text(codecs: &[Codec]) -> String {
    if codecs.is_empty() {
        return "any".into();
    }
    codecs
        .iter()
        .map(|c| c.sdp_name().to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(",")
}

/// Patterns as they are written back (`+1585,+44`, or `any`).
pub fn patterns_text(patterns: &[NumberPattern]) -> String {
    if patterns.is_empty() {
        return "any".into();
    }
    patterns
        .iter()
        .map(NumberPattern::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

/// Changes to a trunk (`None`: unchanged; `Some(None)`: cleared).
#[derive(Debug, Clone, Default)]
pub struct TrunkChanges {
    /// New host.
    pub host: Option<String>,
    /// New port.
    pub port: Option<u16>,
    /// New transport.
    pub transport: Option<String>,
    /// New outbound proxy, or none.
    pub proxy: Option<Option<String>>,
    /// Register or be an IP peer.
    pub register: Option<bool>,
    /// New account, or none.
    pub username: Option<Option<String>>,
    /// New digest username, or none.
    pub auth_username: Option<Option<String>>,
    /// New password, or none.
    pub password: Option<Option<ClientSecret>>,
    /// New expiry.
    pub expires: Option<u32>,
    /// New peer addresses.
    pub peers: Option<Vec<IpAddr>>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// New keep-alive interval (0: none).
    pub keepalive: Option<u32>,
    /// New number format.
    pub number_format: Option<NumberFormat>,
    /// New caller-ID header.
    pub caller_id: Option<CallerIdHeader>,
    /// New limit of calls (0: none).
    pub max_calls: Option<u32>,
    /// New codecs (empty: any).
    pub codecs: Option<Vec<Codec>>,
    /// New number patterns (empty: every number).
    pub patterns: Option<Vec<NumberPattern>>,
}

impl TrunkChanges {
    /// Apply the changes to `t` (unchecked: [`Trunk::check`] the result).
    pub fn apply(self, t: &mut Trunk) {
        macro_rules! take {
            ($($f:ident),*) => { $( if let Some(v) = self.$f { t.$f = v; } )* };
        }
        take!(
            host,
            port,
            transport,
            proxy,
            register,
            username,
            auth_username,
            password,
            expires,
            peers,
            enabled,
            keepalive,
            number_format,
            caller_id,
            max_calls,
            codecs,
            patterns
        );
    }
}

fn row_to_trunk(r: &AnyRow) -> Trunk {
    let text = |c: &str| r.try_get::<Option<String>, _>(c).ok().flatten();
    Trunk {
        name: r.get("name"),
        host: r.get("host"),
        port: u16::try_from(r.get::<i64, _>("port")).unwrap_or(5060),
        transport: r.get("transport"),
        proxy: text("proxy"),
        register: flag(r, "register"),
        username: text("username"),
        auth_username: text("auth_username"),
        password: text("password").map(ClientSecret::new),
        expires: u32::try_from(r.get::<i64, _>("expires")).unwrap_or(3600),
        peers: r
            .get::<String, _>("peers")
            .split(',')
            .filter_map(|p| p.trim().parse().ok())
            .collect(),
        enabled: flag(r, "enabled"),
        keepalive: u32::try_from(r.get::<i64, _>("keepalive")).unwrap_or(0),
        number_format: NumberFormat::parse(&r.get::<String, _>("number_format"))
            .unwrap_or_default(),
        caller_id: CallerIdHeader::parse(&r.get::<String, _>("caller_id")).unwrap_or_default(),
        max_calls: u32::try_from(r.get::<i64, _>("max_calls")).unwrap_or(0),
        codecs: r
            .get::<String, _>("codecs")
            .split(',')
            .filter_map(|c| Codec::parse(c.trim()))
            .collect(),
        patterns: r
            .get::<String, _>("patterns")
            .split(',')
            .filter_map(|p| NumberPattern::new(p.trim()).ok())
            .collect(),
    }
}

/// Bind a trunk's settings (every column but its name and creation time), in the order both the
/// INSERT and the UPDATE list them.
fn bind_settings<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    t: &'q Trunk,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    q.bind(&t.host)
        .bind(i64::from(t.port))
        .bind(&t.transport)
        .bind(t.proxy.as_deref())
        .bind(t.register)
        .bind(t.username.as_deref())
        .bind(t.auth_username.as_deref())
        .bind(t.password.as_ref().map(ClientSecret::expose))
        .bind(i64::from(t.expires))
        .bind(peers_text(&t.peers))
        .bind(t.enabled)
        .bind(i64::from(t.keepalive))
        .bind(t.number_format.as_str())
        .bind(t.caller_id.as_str())
        .bind(i64::from(t.max_calls))
        .bind(stored_list(codecs_text(&t.codecs)))
        .bind(stored_list(patterns_text(&t.patterns)))
}

/// A list as its column holds it (empty for `any`).
fn stored_list(text: String) -> String {
    if text == "any" {
        String::new()
    } else {
        text
    }
}

fn peers_text(peers: &[IpAddr]) -> String {
    peers
        .iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

impl Store {
    /// Add a trunk (checked first).
    pub async fn add_trunk(&self, t: &Trunk) -> Result<(), StoreError> {
        t.check()?;
        let q = sqlx::query(
            "INSERT INTO trunks (name, host, port, transport, proxy, register, username, auth_username, \
             password, expires, peers, enabled, keepalive, number_format, caller_id, max_calls, codecs, \
             patterns, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
        )
        .bind(&t.name);
        let r = bind_settings(q, t)
            .bind(unix_now())
            .execute(&self.pool)
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Invalid(
                format!("a trunk named {} exists already", t.name),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Every trunk, by name.
    pub async fn trunks(&self) -> Result<Vec<Trunk>, StoreError> {
        let rows = sqlx::query("SELECT * FROM trunks ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(row_to_trunk).collect())
    }

    /// One trunk.
    pub async fn trunk(&self, name: &str) -> Result<Option<Trunk>, StoreError> {
        let row = sqlx::query("SELECT * FROM trunks WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(row_to_trunk))
    }

    /// Change a trunk; the result is checked as a new one would be. False if there is no such trunk.
    pub async fn update_trunk(
        &self,
        name: &str,
        changes: TrunkChanges,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query("SELECT * FROM trunks WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(mut t) = row.as_ref().map(row_to_trunk) else {
            return Ok(false);
        };
        changes.apply(&mut t);
        t.check()?;
        let q = sqlx::query(
            "UPDATE trunks SET host = $1, port = $2, transport = $3, proxy = $4, register = $5, \
             username = $6, auth_username = $7, password = $8, expires = $9, peers = $10, enabled = $11, \
             keepalive = $12, number_format = $13, caller_id = $14, max_calls = $15, codecs = $16, \
             patterns = $17 WHERE name = $18",
        );
        bind_settings(q, &t).bind(name).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Remove a trunk. False if there is no such trunk.
    pub async fn remove_trunk(&self, name: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM trunks WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }
}

/// Check a number in E.164 (`+` and 8-15 digits), as a user's outside number is written.
pub fn check_e164(n: &str) -> Result<(), StoreError> {
    let digits = n.strip_prefix('+').unwrap_or("");
    if (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "{:?} is not a number in E.164 (+ and 8 to 15 digits)",
            parley_core::text::printable(n)
        )))
    }
}

impl Store {
    /// An account's dialling class and outside number (`None`: no such account).
    pub async fn dialing(
        &self,
        ext: &str,
    ) -> Result<Option<(DialClass, Option<String>)>, StoreError> {
        let row = sqlx::query("SELECT dial_class, outside_number FROM users WHERE extension = $1")
            .bind(ext)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| {
            let class =
                DialClass::parse(&r.get::<String, _>("dial_class")).unwrap_or(DialClass::Internal);
            (
                class,
                r.try_get::<Option<String>, _>("outside_number")
                    .ok()
                    .flatten(),
            )
        }))
    }
}

impl Store {
    /// Point one of the company's numbers (E.164) at an extension or a mailbox (which must exist),
    /// replacing where it pointed.
    pub async fn set_did(&self, number: &str, target: &DidTarget) -> Result<(), StoreError> {
        check_e164(number)?;
        let (kind, ext) = match target {
            DidTarget::Extension(e) => ("extension", e),
            DidTarget::Mailbox(m) => ("mailbox", m),
        };
        if self.get_user(ext).await?.is_none() {
            return Err(StoreError::Invalid(format!(
                "extension {ext} does not exist"
            )));
        }
        sqlx::query(
            "INSERT INTO dids (number, kind, target, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (number) DO UPDATE SET kind = excluded.kind, target = excluded.target",
        )
        .bind(number)
        .bind(kind)
        .bind(ext)
        .bind(unix_now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every DID, by number.
    pub async fn dids(&self) -> Result<Vec<Did>, StoreError> {
        let rows = sqlx::query("SELECT number, kind, target FROM dids ORDER BY number")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let target: String = r.get("target");
                let target = match r.get::<String, _>("kind").as_str() {
                    "extension" => DidTarget::Extension(target),
                    "mailbox" => DidTarget::Mailbox(target),
                    _ => return None,
                };
                Some(Did {
                    number: r.get("number"),
                    target,
                })
            })
            .collect())
    }

    /// Remove a DID. False if there is none.
    pub async fn remove_did(&self, number: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM dids WHERE number = $1")
            .bind(number)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn trunks_are_checked_stored_changed_and_removed_with_the_password_kept_apart() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::open_test(dir.path()).await;
        let mut t = Trunk::registering("carrier", "sip.carrier.example", "4930123456", "pa$$ word");
        t.peers = vec!["192.0.2.7".parse().unwrap(), "2001:db8::7".parse().unwrap()];
        t.proxy = Some("[2001:db8::1]:5070".into());
        s.add_trunk(&t).await.unwrap();
        s.add_trunk(&Trunk::peer("pbx", "10.0.0.2")).await.unwrap();
        assert_eq!(
            s.trunks().await.unwrap(),
            vec![t.clone(), Trunk::peer("pbx", "10.0.0.2")]
        );
        assert!(!format!("{:?}", s.trunk("carrier").await.unwrap()).contains("pa$$"));
        let again = s.add_trunk(&t).await.unwrap_err();
        assert!(again.to_string().contains("exists already"), "{again}");
        // Changes: the result must be a valid trunk.
        let changes = TrunkChanges {
            port: Some(5080),
            password: Some(Some(ClientSecret::new("new"))),
            proxy: Some(None),
            ..TrunkChanges::default()
        };
        assert!(s.update_trunk("carrier", changes).await.unwrap());
        let got = s.trunk("carrier").await.unwrap().unwrap();
        assert_eq!((got.port, got.proxy.as_deref()), (5080, None));
        assert_eq!(got.password.unwrap().expose(), "new");
        let clear = TrunkChanges {
            password: Some(None),
            ..TrunkChanges::default()
        };
        let e = s.update_trunk("carrier", clear).await.unwrap_err();
        assert!(
            e.to_string().contains("needs a username and a password"),
            "{e}"
        );
        assert!(!s
            .update_trunk("nobody", TrunkChanges::default())
            .await
            .unwrap());
        // The options, stored and read back.
        let options = TrunkChanges {
            keepalive: Some(30),
            number_format: Some(NumberFormat::National),
            caller_id: Some(CallerIdHeader::Pai),
            max_calls: Some(4),
            codecs: Some(parse_codecs("PCMA, pcmu,pcma").unwrap()),
            patterns: Some(parse_patterns("+1585,+44,+1585").unwrap()),
            ..TrunkChanges::default()
        };
        assert!(s.update_trunk("pbx", options).await.unwrap());
        let pbx = s.trunk("pbx").await.unwrap().unwrap();
        assert_eq!(
            (
                pbx.keepalive,
                pbx.number_format,
                pbx.caller_id,
                pbx.max_calls
            ),
            (30, NumberFormat::National, CallerIdHeader::Pai, 4)
        );
        assert_eq!(codecs_text(&pbx.codecs), "pcma,pcmu");
        assert_eq!(patterns_text(&pbx.patterns), "+1585,+44");
        let o = pbx.options();
        assert_eq!(o.keepalive, Some(std::time::Duration::from_secs(30)));
        assert_eq!(o.max_calls, Some(4));
        assert_eq!(Trunk::peer("x", "h").options(), TrunkOptions::default());
        let e = parse_codecs("pcmu,g729").unwrap_err();
        assert!(e.to_string().contains("not a codec"), "{e}");
        for bad in ["+1,x", "1585", "+", "+1234567890123456"] {
            let e = parse_patterns(bad).unwrap_err();
            assert!(e.to_string().contains("number pattern"), "{bad}: {e}");
        }
        assert!(parse_codecs("any").unwrap().is_empty());
        assert!(parse_patterns("any").unwrap().is_empty());
        assert!(parse_number_format("e.164").is_err() && parse_caller_id("pai ").is_ok());
        assert!(s.remove_trunk("pbx").await.unwrap());
        assert!(!s.remove_trunk("pbx").await.unwrap());
        assert_eq!(s.trunks().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_accounts_dialling_class_and_outside_number_are_kept_and_checked() {
        let (s, _dir) = crate::test_store(None).await;
        assert_eq!(
            s.dialing("101").await.unwrap(),
            Some((DialClass::Internal, None)),
            "the default: nobody dials out unless allowed"
        );
        let dialing = |class: Option<DialClass>, number: Option<&str>| crate::UserChanges {
            dial_class: class,
            outside_number: number.map(str::to_string),
            ..Default::default()
        };
        s.update_user(
            "101",
            &dialing(Some(DialClass::International), Some("+15855550101")),
        )
        .await
        .unwrap();
        let a = s.switch_account("101").await.unwrap().unwrap();
        assert_eq!(
            (a.dial_class, a.outside_number.as_deref()),
            (DialClass::International, Some("+15855550101"))
        );
        let u = s.get_user("101").await.unwrap().unwrap();
        assert_eq!(
            (u.dial_class, u.outside_number.as_deref()),
            (DialClass::International, Some("+15855550101"))
        );
        s.update_user("101", &dialing(Some(DialClass::Local), Some("")))
            .await
            .unwrap();
        assert_eq!(
            s.dialing("101").await.unwrap(),
            Some((DialClass::Local, None))
        );
        for bad in ["5855550101", "+1", "+1585555010x", "+1234567890123456"] {
            assert!(
                s.update_user("101", &dialing(None, Some(bad)))
                    .await
                    .is_err(),
                "{bad}"
            );
        }
        assert!(matches!(
            s.update_user("999", &dialing(Some(DialClass::Internal), None))
                .await,
            Err(StoreError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn dids_point_at_existing_extensions_or_mailboxes_and_can_be_moved_and_removed() {
        let (s, _dir) = crate::test_store(None).await;
        s.set_did("+15855550101", &DidTarget::Extension("101".into()))
            .await
            .unwrap();
        s.set_did("+15855550199", &DidTarget::Mailbox("101".into()))
            .await
            .unwrap();
        s.set_did("+15855550101", &DidTarget::Mailbox("101".into()))
            .await
            .unwrap();
        assert_eq!(
            s.dids().await.unwrap(),
            vec![
                Did {
                    number: "+15855550101".into(),
                    target: DidTarget::Mailbox("101".into())
                },
                Did {
                    number: "+15855550199".into(),
                    target: DidTarget::Mailbox("101".into())
                },
            ]
        );
        let e = s
            .set_did("+15855550102", &DidTarget::Extension("999".into()))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        assert!(s
            .set_did("5855550102", &DidTarget::Extension("101".into()))
            .await
            .is_err());
        assert!(s.remove_did("+15855550101").await.unwrap());
        assert!(!s.remove_did("+15855550101").await.unwrap());
        assert_eq!(s.dids().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn absurd_trunk_settings_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::open_test(dir.path()).await;
        let ok = Trunk::registering("c", "carrier.example", "u", "p");
        let cases: Vec<(Trunk, &str)> = vec![
            (
                Trunk {
                    name: "a b".into(),
                    ..ok.clone()
                },
                "trunk name",
            ),
            (
                Trunk {
                    name: "x".repeat(33),
                    ..ok.clone()
                },
                "trunk name",
            ),
            (
                Trunk {
                    host: "evil.example>;x".into(),
                    ..ok.clone()
                },
                "not a host",
            ),
            (
                Trunk {
                    port: 0,
                    ..ok.clone()
                },
                "port",
            ),
            (
                Trunk {
                    transport: "sctp".into(),
                    ..ok.clone()
                },
                "transport",
            ),
            (
                Trunk {
                    proxy: Some("p:99999".into()),
                    ..ok.clone()
                },
                "not a host",
            ),
            (
                Trunk {
                    username: Some("a@b".into()),
                    ..ok.clone()
                },
                "username",
            ),
            (
                Trunk {
                    auth_username: Some("a\r\nb".into()),
                    ..ok.clone()
                },
                "username",
            ),
            (
                Trunk {
                    password: Some(ClientSecret::new("a\nb")),
                    ..ok.clone()
                },
                "password",
            ),
            (
                Trunk {
                    password: Some(ClientSecret::new("x".repeat(129))),
                    ..ok.clone()
                },
                "password",
            ),
            (
                Trunk {
                    username: None,
                    ..ok.clone()
                },
                "needs a username",
            ),
            (
                Trunk {
                    expires: 5,
                    ..ok.clone()
                },
                "expires",
            ),
            (
                Trunk {
                    peers: vec!["192.0.2.1".parse().unwrap(); 17],
                    ..ok.clone()
                },
                "peer addresses",
            ),
            (
                Trunk {
                    keepalive: 1,
                    ..ok.clone()
                },
                "keepalive",
            ),
            (
                Trunk {
                    keepalive: 86_400,
                    ..ok.clone()
                },
                "keepalive",
            ),
            (
                Trunk {
                    max_calls: 1_000_000,
                    ..ok.clone()
                },
                "max calls",
            ),
            (
                Trunk {
                    patterns: vec![NumberPattern::new("+1").unwrap(); 65],
                    ..ok.clone()
                },
                "number patterns",
            ),
        ];
        for (t, why) in cases {
            let e = s.add_trunk(&t).await.unwrap_err();
            assert!(e.to_string().contains(why), "{t:?}: {e}");
        }
        assert!(s.trunks().await.unwrap().is_empty());
    }
}
