//! Parley's configuration: defaults, the TOML file given with `--config`, and command-line flags (which
//! win). Plain documented data; every option is listed in the README.

use parley_core::trunk::limits::OutsideLimits;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// Everything `parley serve` reads. Field names are the TOML keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Data directory: audio, and the SQLite database unless `database` names another.
    pub data: PathBuf,
    /// The database: `postgres://user:password@host/name`, or `sqlite:DIR`; by default the SQLite
    /// file `parley.db` in the data directory.
    pub database: Option<String>,
    /// Where audio (messages, greetings, names, announcements) is kept: `files` under the data
    /// directory, or `database` (chunked in the database itself). Default: files with SQLite, the
    /// database with PostgreSQL (so that nodes sharing it need no shared directory).
    pub audio: Option<String>,
    /// This node's name among the Parley nodes sharing one database (default `HOST:SIP-PORT`);
    /// stable across restarts, unique among the nodes running.
    pub node_name: Option<String>,
    /// SIP listen address (UDP and TCP).
    pub sip_listen: SocketAddr,
    /// HTTP listen address.
    pub http_listen: SocketAddr,
    /// HTTPS listen address for the portal and APIs (none: HTTPS off), with `tls_cert` and
    /// `tls_key`, or a self-signed certificate generated into the data directory.
    pub https_listen: Option<SocketAddr>,
    /// The server's certificate chain (PEM), with `tls_key`.
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// RTP port range, `LOW-HIGH`.
    pub rtp_ports: String,
    /// Threads of the media relay's event loops (0: one per core).
    pub relay_threads: usize,
    /// Address written into SDP and Contact; guessed from the interfaces when absent.
    pub public_addr: Option<IpAddr>,
    /// Log filter (`info`, `debug`, or a tracing filter such as `info,parley_sip=debug`).
    pub log_level: String,
    /// Seconds a callee rings before the call gives up.
    pub no_answer_secs: u64,
    /// Registration expiry granted when a phone asks for none.
    pub register_default_expires: u32,
    /// Shortest registration expiry accepted.
    pub register_min_expires: u32,
    /// Longest registration expiry granted.
    pub register_max_expires: u32,
    /// Most contacts (phones) one extension may register at once.
    pub register_max_contacts: usize,
    /// A TCP connection carrying nothing for this many seconds is closed; registrations over TCP are
    /// granted at most this long, so that a phone's refresh keeps its connection open.
    pub sip_tcp_idle_secs: u64,
    /// TCP connections one source address (an IPv6 /64) may hold open at once.
    pub sip_tcp_per_address: usize,
    /// TCP connections in all (each holds about 128 KiB of buffers).
    pub sip_tcp_total: usize,
    /// Calls in progress one account may place at once.
    pub max_calls_per_account: usize,
    /// Message-waiting subscriptions per account.
    pub max_subscriptions_per_account: usize,
    /// Voicemail calls one mailbox or caller may have at once.
    pub max_voicemail_per_account: usize,
    /// Voicemail calls from one source address at once (trusted PBXs are exempt).
    pub max_voicemail_per_address: usize,
    /// Digest nonce lifetime in seconds (after it, `stale=true`).
    pub nonce_ttl_secs: u64,
    /// Failed digest authentications (per source address, and per account) that cause a lockout.
    pub auth_max_failures: u32,
    /// The window in seconds those failures are counted in.
    pub auth_failure_window_secs: u64,
    /// First lockout length in seconds (doubles with each repeat, up to a day).
    pub auth_lockout_secs: u64,
    /// The outside-line prefix (default `9`; empty: none, then only `+` numbers and emergency numbers
    /// go out).
    pub outside_prefix: String,
    /// The home country (ISO 3166 code, default `US`): national numbers are read by its rules.
    pub home_country: String,
    /// Emergency numbers: always allowed, never held back by a limit.
    pub emergency_numbers: Vec<String>,
    /// Dialled before an outside number, hides the caller's number from the far end (default
    /// `*67`; empty: none). Emergency calls always show it.
    pub anonymous_prefix: String,
    /// The company's main number (E.164), shown outside for users without a number of their own.
    pub main_number: Option<String>,
    /// Premium-rate numbers may be dialled (by users allowed national calls).
    pub allow_premium: bool,
    /// Where calls from a trunk to a number that is no DID go (an extension, e.g. the operator's);
    /// none: they are refused with 404.
    pub inbound_default: Option<String>,
    /// Toll-fraud limits (0: none of that kind): outside calls one user may have at once.
    pub outside_calls_per_user: u32,
    /// Outside calls the whole system may have at once.
    pub outside_calls_total: u32,
    /// Outside calls one user may place in an hour (sliding).
    pub outside_calls_per_user_hour: u32,
    /// Outside calls the whole system may place in an hour (sliding).
    pub outside_calls_total_hour: u32,
    /// Seconds before a failed registration to a trunk is tried again (doubling with each further
    /// failure).
    pub trunk_retry_secs: u64,
    /// The longest wait, in seconds, between attempts to register to a trunk.
    pub trunk_retry_max_secs: u64,
    /// Ring a callee that is already in a call (its phone decides; many show a second call). When false,
    /// Parley answers 486 Busy Here itself.
    pub call_waiting: bool,
    /// Digest algorithms offered in challenges, in order: `MD5`, `SHA-256`. Default MD5 only: SIPp reads
    /// only the first challenge and baresip 1.0 fails on a SHA-256 challenge instead of skipping it.
    pub digest_algorithms: Vec<String>,
    /// Accept digest responses without `qop` (RFC 2069 phones). Off: such responses carry no nonce
    /// count and so no replay protection; when on, each nonce serves one request.
    pub dangerous_digest_rfc2069: bool,
    /// Send unanswered, busy and unregistered calls to voicemail (false: callers get 480 / 486).
    pub voicemail: bool,
    /// Feature code that sets one's presence, followed by its digit: `*80` then 1 In Office, 2 At A
    /// Meeting, 3 On Vacation, 4 On Business Trip, 5 At Home, 6 Away, 7 Busy (empty: none).
    pub presence_code: String,
    /// The Conference Center's extension (Allworx: 4081; empty: no Conference Center). A user with
    /// the same extension cannot be called.
    pub conference_extension: String,
    /// Attendees per conference, unless a conference says otherwise (Allworx: 8 or 30).
    pub conference_seats: u16,
    /// Conferences in session at once, server-wide (Allworx's larger servers: 4). With every one in
    /// use, a caller starting another unscheduled conference is refused.
    pub conference_rooms: usize,
    /// Feature code that opens one's own mailbox.
    pub voicemail_own_code: String,
    /// Feature code that asks for a mailbox number, then its PIN.
    pub voicemail_any_code: String,
    /// The voicemail pilot number: calls diverted from another PBX (Diversion / History-Info) land in
    /// the mailbox those headers name; other calls to it open the mailbox menu.
    pub voicemail_pilot: String,
    /// PBX addresses trusted to send calls to the pilot without digest authentication.
    pub voicemail_pbx_peers: Vec<IpAddr>,
    /// The PIN of a mailbox whose PIN was never set (its owner must change it at the first login).
    pub voicemail_default_pin: String,
    /// Longest message, in seconds.
    pub voicemail_max_secs: u64,
    /// Messages shorter than this (milliseconds) are discarded.
    pub voicemail_min_ms: u64,
    /// A recording ends after this many seconds of silence.
    pub voicemail_silence_secs: u64,
    /// Rewind / fast-forward step while listening, in seconds.
    pub voicemail_skip_secs: u64,
    /// Shortest PIN accepted when a user changes it.
    pub pin_min_length: usize,
    /// Wrong PINs (per mailbox, across calls, within 15 minutes) that lock the mailbox.
    pub pin_max_failures: u32,
    /// First mailbox lockout in seconds (doubles with each repeat).
    pub pin_lockout_secs: u64,
    /// Extension that `0` during a greeting (or after recording a message) transfers the caller to;
    /// without it, `0` is not offered.
    pub voicemail_operator: Option<String>,
    /// Directory of prompt files (`vm-intro.wav`, `digits/5.wav`...) replacing the bundled English set;
    /// an Asterisk sound directory such as /usr/share/asterisk/sounds/fr works.
    pub prompts: Option<PathBuf>,
    /// The portal's address, for links in notifications (default `http://<public address>:<HTTP port>`).
    pub portal_url: Option<String>,
    /// The SMTP server for voicemail to email (`[smtp]`); without it emails fail with that reason.
    pub smtp: Option<parley_notify::SmtpConfig>,
    /// Voicemail-to-email sender, subject and body templates, attachment format (`[email]`).
    pub email: parley_notify::EmailConfig,
    /// The HTTP SMS gateway (`[sms]`).
    pub sms: Option<parley_notify::SmsConfig>,
    /// Notification retries (`[outbox]`).
    pub outbox: parley_notify::OutboxConfig,
}

impl Config {
    /// This node's name: `node_name`, or the host's name and the SIP port.
    pub fn node_name(&self) -> String {
        self.node_name.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_default();
            let host = if host.is_empty() {
                "parley".into()
            } else {
                host
            };
            format!("{host}:{}", self.sip_listen.port())
        })
    }

    /// Open the configured store (migrating it), with its location in any error.
    pub async fn open_store(&self) -> Result<parley_store::Store> {
        let location = parley_store::Location::parse(self.database.as_deref(), &self.data)?;
        let store = parley_store::Store::connect(&location, &self.data)
            .await
            .with_context(|| format!("cannot open the database {location}"))?;
        self.with_audio(store).await
    }

    /// A store keeping audio where its database says; `audio`, when set, is what a new database is
    /// told (and must agree with what an older one says).
    pub async fn with_audio(&self, store: parley_store::Store) -> Result<parley_store::Store> {
        let wanted = match self.audio.as_deref() {
            None => None,
            Some(a) => match parley_store::AudioPlace::parse(a) {
                Some(place) => Some(place),
                None => bail!("audio = {a:?}: use \"files\" or \"database\""),
            },
        };
        Ok(store.keep_audio_in(wanted).await?)
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data: PathBuf::from("./parley-data"),
            database: None,
            audio: None,
            node_name: None,
            sip_listen: "0.0.0.0:5060".parse().expect("literal"),
            http_listen: "0.0.0.0:8080".parse().expect("literal"),
            https_listen: None,
            tls_cert: None,
            tls_key: None,
            rtp_ports: "10000-20000".into(),
            relay_threads: 0,
            public_addr: None,
            log_level: "info".into(),
            no_answer_secs: 30,
            register_default_expires: 3600,
            register_min_expires: 30,
            register_max_expires: 3600,
            register_max_contacts: 10,
            sip_tcp_idle_secs: 300,
            sip_tcp_per_address: 128,
            sip_tcp_total: 2048,
            max_calls_per_account: 8,
            max_subscriptions_per_account: 20,
            max_voicemail_per_account: 8,
            max_voicemail_per_address: 32,
            nonce_ttl_secs: 300,
            digest_algorithms: vec!["MD5".into()],
            dangerous_digest_rfc2069: false,
            call_waiting: true,
            outside_prefix: "9".into(),
            home_country: "US".into(),
            emergency_numbers: vec!["911".into(), "112".into()],
            anonymous_prefix: "*67".into(),
            main_number: None,
            allow_premium: false,
            inbound_default: None,
            outside_calls_per_user: OutsideLimits::default().per_user,
            outside_calls_total: OutsideLimits::default().total,
            outside_calls_per_user_hour: OutsideLimits::default().per_user_hour,
            outside_calls_total_hour: OutsideLimits::default().total_hour,
            trunk_retry_secs: 20,
            trunk_retry_max_secs: 600,
            auth_max_failures: 10,
            auth_failure_window_secs: 300,
            auth_lockout_secs: 300,
            voicemail: true,
            presence_code: "*80".into(),
            conference_extension: "4081".into(),
            conference_seats: 30,
            conference_rooms: 4,
            voicemail_own_code: "*97".into(),
            voicemail_any_code: "*98".into(),
            voicemail_pilot: "*86".into(),
            voicemail_pbx_peers: Vec::new(),
            voicemail_default_pin: "1234".into(),
            voicemail_max_secs: 180,
            voicemail_min_ms: 1000,
            voicemail_silence_secs: 10,
            voicemail_skip_secs: 3,
            pin_min_length: 4,
            pin_max_failures: 5,
            pin_lockout_secs: 300,
            voicemail_operator: None,
            prompts: None,
            portal_url: None,
            smtp: None,
            email: Default::default(),
            sms: None,
            outbox: Default::default(),
        }
    }
}

impl Config {
    /// Read a TOML file.
    pub fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    /// The RTP range as numbers.
    pub fn rtp_range(&self) -> Result<(u16, u16)> {
        let (lo, hi) = self
            .rtp_ports
            .split_once('-')
            .with_context(|| format!("rtp_ports must be LOW-HIGH, got {:?}", self.rtp_ports))?;
        let (lo, hi): (u16, u16) = (
            lo.trim().parse().context("rtp_ports: LOW is not a port")?,
            hi.trim().parse().context("rtp_ports: HIGH is not a port")?,
        );
        if lo < 1024 || hi <= lo + 4 {
            bail!("rtp_ports must be a range above 1023 with room for at least two calls, got {lo}-{hi}");
        }
        Ok((lo, hi))
    }

    /// The digest algorithms as values.
    pub fn algorithms(&self) -> Result<Vec<parley_core::sip::digest::Algorithm>> {
        let algs = self
            .digest_algorithms
            .iter()
            .map(|a| {
                parley_core::sip::digest::Algorithm::parse(Some(a))
                    .with_context(|| format!("unknown digest algorithm {a:?}"))
            })
            .collect::<Result<Vec<_>>>()?;
        if algs.is_empty() {
            bail!("digest_algorithms must name at least one algorithm");
        }
        Ok(algs)
    }

    /// How calls are dialled outside, checked.
    pub fn outside(&self) -> Result<parley_core::switch::OutsideSettings> {
        let home =
            parley_core::trunk::dialplan::country(&self.home_country).with_context(|| {
                format!(
                    "home_country {:?} is not an ISO 3166 country code",
                    self.home_country
                )
            })?;
        let prefix = self.outside_prefix.trim().to_string();
        if !prefix.bytes().all(|b| b.is_ascii_digit()) || prefix.len() > 3 {
            anyhow::bail!("outside_prefix must be up to 3 digits, got {prefix:?}");
        }
        if let Some(n) = &self.main_number {
            parley_store::check_e164(n).context("main_number")?;
        }
        let emergency: Vec<String> = self
            .emergency_numbers
            .iter()
            .map(|e| e.trim().to_string())
            .collect();
        if emergency
            .iter()
            .any(|e| e.is_empty() || e.len() > 6 || !e.bytes().all(|b| b.is_ascii_digit()))
        {
            anyhow::bail!("emergency_numbers are 1 to 6 digits each");
        }
        let anonymous_prefix = self.anonymous_prefix.trim().to_string();
        let feature_code = |p: &str| {
            p.len() <= 4
                && p.starts_with('*')
                && p.len() > 1
                && p[1..].bytes().all(|b| b.is_ascii_digit())
        };
        if !anonymous_prefix.is_empty() && !feature_code(&anonymous_prefix) {
            anyhow::bail!("anonymous_prefix must be * and 1 to 3 digits, got {anonymous_prefix:?}");
        }
        Ok(parley_core::switch::OutsideSettings {
            dialplan: parley_core::trunk::dialplan::Dialplan {
                prefix,
                home,
                emergency,
                anonymous_prefix,
                home_area: self
                    .main_number
                    .as_deref()
                    .and_then(parley_core::trunk::dialplan::area_of),
            },
            main_number: self.main_number.clone(),
            allow_premium: self.allow_premium,
            inbound_default: match &self.inbound_default {
                Some(e) => Some(
                    parley_core::extension::Extension::parse(e)
                        .map_err(|err| anyhow::anyhow!("inbound_default: {err}"))?
                        .to_string(),
                ),
                None => None,
            },
            limits: OutsideLimits {
                per_user: self.outside_calls_per_user,
                total: self.outside_calls_total,
                per_user_hour: self.outside_calls_per_user_hour,
                total_hour: self.outside_calls_total_hour,
            },
        })
    }

    /// The presence feature code, checked: `*` and 1 to 3 digits, or empty (none).
    pub fn presence_code(&self) -> Result<String> {
        let code = self.presence_code.trim();
        let ok = code.is_empty()
            || (code.len() >= 2
                && code.len() <= 4
                && code.starts_with('*')
                && code[1..].bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            bail!("presence_code must be * and 1 to 3 digits, got {code:?}");
        }
        Ok(code.to_string())
    }

    /// The Conference Center's settings, checked.
    pub fn conference(&self) -> Result<parley_core::conference::ConferenceConfig> {
        let extension = self.conference_extension.trim();
        if !extension.is_empty() && !parley_core::extension::Extension::is_valid(extension) {
            bail!("conference_extension must be an extension number or empty, got {extension:?}");
        }
        if !(1..=500).contains(&self.conference_seats) {
            bail!(
                "conference_seats must be 1 to 500, got {}",
                self.conference_seats
            );
        }
        if !(1..=1000).contains(&self.conference_rooms) {
            bail!(
                "conference_rooms must be 1 to 1000, got {}",
                self.conference_rooms
            );
        }
        Ok(parley_core::conference::ConferenceConfig {
            extension: extension.to_string(),
            seats: self.conference_seats,
            active_limit: self.conference_rooms,
        })
    }

    /// Voicemail settings for the SIP server.
    pub fn voicemail(&self) -> Result<parley_sip::VmSettings> {
        let default_pin = parley_core::vm::pin::Pin::new(self.voicemail_default_pin.as_str())
            .filter(|p| p.expose().len() >= 4)
            .ok_or_else(|| anyhow::anyhow!("voicemail_default_pin must be 4 to 32 digits"))?;
        for (k, v) in [
            ("voicemail_own_code", &self.voicemail_own_code),
            ("voicemail_any_code", &self.voicemail_any_code),
            ("voicemail_pilot", &self.voicemail_pilot),
        ] {
            if v.is_empty()
                || !v
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
            {
                bail!("{k} must be digits, * or #, got {v:?}");
            }
        }
        if let Some(op) = &self.voicemail_operator {
            if op.len() < 2 || !op.bytes().all(|b| b.is_ascii_digit()) {
                bail!("voicemail_operator must be an extension (digits), got {op:?}");
            }
        }
        if self.pin_min_length < 4 {
            // Seed 000: "This PIN may consist of an arbitrary number of digits." Parley's default
            // minimum is 4 (a security choice); an administrator may lower it, knowingly.
            tracing::warn!(
                pin_min_length = self.pin_min_length,
                "pin_min_length below 4: short PINs are easy to guess (the lockout still applies)"
            );
        }
        let menus = parley_core::vm::VmConfig {
            max_message: Duration::from_secs(self.voicemail_max_secs.max(1)),
            min_message: Duration::from_millis(self.voicemail_min_ms),
            silence: Duration::from_secs(self.voicemail_silence_secs.max(1)),
            skip: Duration::from_secs(self.voicemail_skip_secs.max(1)),
            pin_min_len: self.pin_min_length.max(1),
            operator: self.voicemail_operator.is_some(),
            ..Default::default()
        };
        Ok(parley_sip::VmSettings {
            enabled: self.voicemail,
            menus,
            own_code: self.voicemail_own_code.clone(),
            any_code: self.voicemail_any_code.clone(),
            pilot: self.voicemail_pilot.clone(),
            pbx_peers: self.voicemail_pbx_peers.clone(),
            default_pin,
            prompts: self.prompts.clone(),
            operator: self.voicemail_operator.clone(),
            profile: std::sync::Arc::new(parley_core::vm::profile::classic()),
            pin_guard: parley_core::guard::GuardConfig {
                max_failures: self.pin_max_failures.max(1),
                window: Duration::from_secs(900),
                lockout: Duration::from_secs(self.pin_lockout_secs),
            },
        })
    }

    /// Notification settings for the notifier.
    pub fn notify(&self, public_ip: IpAddr) -> parley_notify::NotifyConfig {
        let portal_url = self.portal_url.clone().unwrap_or_else(|| {
            let ip = if self.http_listen.ip().is_unspecified() {
                public_ip
            } else {
                self.http_listen.ip()
            };
            format!("http://{}", SocketAddr::new(ip, self.http_listen.port()))
        });
        parley_notify::NotifyConfig {
            smtp: self.smtp.clone(),
            email: self.email.clone(),
            sms: self.sms.clone(),
            outbox: self.outbox.clone(),
            portal_url,
        }
    }

    /// The address for SDP and Contact: configured, else the listen address, else the first non-loopback IPv4.
    pub fn public_ip(&self) -> IpAddr {
        if let Some(ip) = self.public_addr {
            return ip;
        }
        if !self.sip_listen.ip().is_unspecified() {
            return self.sip_listen.ip();
        }
        if_addrs::get_if_addrs()
            .ok()
            .and_then(|l| {
                l.into_iter()
                    .find(|i| !i.is_loopback() && i.ip().is_ipv4())
                    .map(|i| i.ip())
            })
            .unwrap_or(IpAddr::from([127, 0, 0, 1]))
    }
}

/// The server's own time zone as a tz database name: `TZ` (without a leading `:`), else
/// `/etc/timezone`, else the target of `/etc/localtime`, else `UTC`. New scheduled conferences are in
/// it unless their Creator chooses another.
pub fn system_time_zone() -> String {
    let valid = |z: &str| {
        let z = z.trim().trim_start_matches(':');
        (!z.is_empty()
            && parley_core::conference::Schedule::from_local(
                "2026-01-01",
                "12:00",
                z,
                60,
                Default::default(),
            )
            .is_ok())
        .then(|| z.to_string())
    };
    std::env::var("TZ")
        .ok()
        .and_then(|z| valid(&z))
        .or_else(|| {
            std::fs::read_to_string("/etc/timezone")
                .ok()
                .and_then(|z| valid(&z))
        })
        .or_else(|| {
            let target = std::fs::read_link("/etc/localtime").ok()?;
            let text = target.to_string_lossy().to_string();
            valid(text.split("zoneinfo/").nth(1)?)
        })
        .unwrap_or_else(|| "UTC".to_string())
}
