//! `parley trunk ...` and `parley did ...`: trunks to carriers and the company's numbers, kept in the database (their source of truth). `add`, `set`,
//! `remove` and `list` work on the database with or without a running server, and then tell a running
//! server on this machine to read the trunks again (every node also reads them each minute);
//! `status` asks the running server where each registration stands. A trunk's password is written,
//! never shown: `list` says only whether one is set.

use std::io::BufRead;
use std::net::IpAddr;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use parley_core::sip::digest::ClientSecret;
use parley_store::{Trunk, TrunkChanges};

use crate::config::Config;
use crate::{audit_cli, http_request, shown};

#[derive(Subcommand)]
pub enum TrunkCommand {
    /// Add a trunk: registering (with --username and a password) or an IP peer (--peer).
    Add {
        /// Its name (letters, digits, '-', '_', '.').
        name: String,
        /// The carrier's host name or IP address.
        #[arg(long)]
        host: String,
        #[command(flatten)]
        settings: Settings,
    },
    /// Change a trunk (only what is given changes).
    Set {
        /// Its name.
        name: String,
        /// The carrier's host name or IP address.
        #[arg(long)]
        host: Option<String>,
        #[command(flatten)]
        settings: Settings,
        /// Enable or disable it (a disabled trunk neither registers nor carries calls).
        #[arg(long)]
        enabled: Option<crate::OnOff>,
    },
    /// List the trunks as configured (passwords are never shown).
    List,
    /// Remove a trunk (a running server removes its registration at the carrier).
    Remove {
        /// Its name.
        name: String,
        /// HTTP address of the running server to tell (default: from the config, else
        /// 127.0.0.1:8080).
        #[arg(long)]
        http: Option<String>,
    },
    /// Where each trunk's registration stands, from the running server.
    Status {
        /// HTTP address of the running server (default: from the config, else 127.0.0.1:8080).
        #[arg(long)]
        http: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum DidCommand {
    /// Point one of the company's numbers (E.164, +15855550101) at an extension, or straight at a
    /// mailbox's greeting; replaces where it pointed.
    Set {
        /// The number, in E.164.
        number: String,
        /// Ring this extension (its phones, then its voicemail).
        #[arg(long, conflicts_with = "mailbox", required_unless_present = "mailbox")]
        extension: Option<String>,
        /// Send callers straight to this mailbox's greeting.
        #[arg(long)]
        mailbox: Option<String>,
        /// HTTP address of the running server to tell (default: from the config, else
        /// 127.0.0.1:8080).
        #[arg(long)]
        http: Option<String>,
    },
    /// List the numbers and where they go.
    List,
    /// Remove a number (its calls then go to `inbound_default`, or get 404).
    Remove {
        /// The number.
        number: String,
        /// HTTP address of the running server to tell.
        #[arg(long)]
        http: Option<String>,
    },
}

pub async fn did(config: &Config, cmd: DidCommand) -> Result<()> {
    use parley_core::trunk::DidTarget;
    let store = config.open_store().await?;
    let result = async {
        match cmd {
            DidCommand::Set {
                number,
                extension,
                mailbox,
                http,
            } => {
                let target = match (extension, mailbox) {
                    (Some(e), _) => DidTarget::Extension(e),
                    (None, Some(m)) => DidTarget::Mailbox(m),
                    (None, None) => bail!("give --extension or --mailbox"),
                };
                store.set_did(&number, &target).await?;
                let what = match &target {
                    DidTarget::Extension(e) => format!("extension {e}"),
                    DidTarget::Mailbox(m) => format!("mailbox {m}"),
                };
                audit_cli(&store, "did.set", &number, &what).await;
                println!("calls to {number} go to {what}");
                tell_server(config, http);
            }
            DidCommand::List => {
                println!("{:<18} TO", "NUMBER");
                for d in store.dids().await? {
                    let to = match d.target {
                        DidTarget::Extension(e) => format!("extension {e}"),
                        DidTarget::Mailbox(m) => format!("mailbox {m}"),
                    };
                    println!("{:<18} {to}", d.number);
                }
            }
            DidCommand::Remove { number, http } => {
                if !store.remove_did(&number).await? {
                    bail!("no number {number}");
                }
                audit_cli(&store, "did.remove", &number, "").await;
                println!("removed {number}");
                tell_server(config, http);
            }
        }
        Ok(())
    }
    .await;
    store.close().await;
    result
}

/// The settings `add` and `set` share.
#[derive(clap::Args)]
pub struct Settings {
    /// The carrier's port (default 5060).
    #[arg(long)]
    port: Option<u16>,
    /// udp or tcp (default udp).
    #[arg(long)]
    transport: Option<String>,
    /// Send requests to this outbound proxy (host or host:port) instead of the host; empty clears.
    #[arg(long)]
    proxy: Option<String>,
    /// Register to the carrier (on: needs --username and a password) or be an IP peer (off).
    /// Default: on when a username is given.
    #[arg(long)]
    register: Option<crate::OnOff>,
    /// The account at the carrier; empty clears.
    #[arg(long)]
    username: Option<String>,
    /// The digest username, when it differs from the account; empty clears.
    #[arg(long)]
    auth_username: Option<String>,
    /// The password (visible to other users of this machine while the command runs: prefer
    /// --password-stdin).
    #[arg(long, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    /// Registration expiry asked for, in seconds (60-86400, default 3600).
    #[arg(long)]
    expires: Option<u32>,
    /// Addresses the trunk's calls may come from (an IP peer's), replacing the list; repeat or use
    /// commas; `none` clears.
    #[arg(long = "peer", value_delimiter = ',')]
    peers: Vec<String>,
    /// Send an OPTIONS every this many seconds (2-3600; 0: never, the default); two failures in a
    /// row mark the trunk down and its calls go to the next trunk.
    #[arg(long)]
    keepalive: Option<u32>,
    /// How numbers are written to the carrier: e164 (+15855550123, the default), digits
    /// (15855550123) or national (5855550123; other countries with the international prefix).
    #[arg(long)]
    number_format: Option<String>,
    /// Where the caller ID goes besides From: from (the default), pai (P-Asserted-Identity) or
    /// rpid (Remote-Party-ID).
    #[arg(long)]
    caller_id: Option<String>,
    /// The most calls the trunk carries at once, both ways (0: no limit of its own, the default).
    #[arg(long)]
    max_calls: Option<u32>,
    /// The codecs the carrier may be offered: pcmu, pcma, comma-separated, or any (the default).
    #[arg(long)]
    codecs: Option<String>,
    /// The numbers the trunk carries: E.164 prefixes (+1585,+44), comma-separated, or any (the
    /// default). The trunk whose pattern matches the most digits is tried first.
    #[arg(long)]
    patterns: Option<String>,
    /// HTTP address of the running server to tell (default: from the config, else 127.0.0.1:8080).
    #[arg(long)]
    http: Option<String>,
}

impl Settings {
    fn password(&self) -> Result<Option<ClientSecret>> {
        if self.password_stdin {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("cannot read the password from standard input")?;
            return Ok(Some(ClientSecret::new(line.trim_end_matches(['\r', '\n']))));
        }
        Ok(self.password.clone().map(ClientSecret::new))
    }

    fn peers(&self) -> Result<Option<Vec<IpAddr>>> {
        if self.peers.is_empty() {
            return Ok(None);
        }
        self.peers
            .iter()
            .map(|p| p.trim())
            .filter(|p| !p.is_empty() && !p.eq_ignore_ascii_case("none"))
            .map(|p| {
                p.parse()
                    .with_context(|| format!("{p:?} is not an IP address"))
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    fn changes(&self) -> Result<TrunkChanges> {
        let clearable = |v: &Option<String>| {
            v.as_ref()
                .map(|s| Some(s.trim().to_string()).filter(|s| !s.is_empty()))
        };
        Ok(TrunkChanges {
            port: self.port,
            transport: self.transport.as_ref().map(|t| t.to_ascii_lowercase()),
            proxy: clearable(&self.proxy),
            register: self.register.map(crate::OnOff::on),
            username: clearable(&self.username),
            auth_username: clearable(&self.auth_username),
            password: self.password()?.map(Some),
            expires: self.expires,
            peers: self.peers()?,
            keepalive: self.keepalive,
            number_format: self
                .number_format
                .as_deref()
                .map(parley_store::parse_number_format)
                .transpose()?,
            caller_id: self
                .caller_id
                .as_deref()
                .map(parley_store::parse_caller_id)
                .transpose()?,
            max_calls: self.max_calls,
            codecs: self
                .codecs
                .as_deref()
                .map(parley_store::parse_codecs)
                .transpose()?,
            patterns: self
                .patterns
                .as_deref()
                .map(parley_store::parse_patterns)
                .transpose()?,
            ..TrunkChanges::default()
        })
    }
}

pub async fn trunk(config: &Config, cmd: TrunkCommand) -> Result<()> {
    if let TrunkCommand::Status { http, json } = cmd {
        return status(config, http, json);
    }
    let store = config.open_store().await?;
    let result = async {
        let http = match &cmd {
            TrunkCommand::Add { settings, .. } | TrunkCommand::Set { settings, .. } => {
                settings.http.clone()
            }
            TrunkCommand::Remove { http, .. } => http.clone(),
            _ => None,
        };
        match cmd {
            TrunkCommand::Add {
                name,
                host,
                settings,
            } => {
                let mut changes = settings.changes()?;
                if changes.register.is_none() {
                    changes.register = Some(matches!(changes.username, Some(Some(_))));
                }
                let mut t = Trunk::peer(&name, host.trim());
                changes.apply(&mut t);
                store.add_trunk(&t).await?;
                audit_cli(&store, "trunk.add", &name, &t.describe()).await;
                println!("added trunk {name} ({})", t.kind());
            }
            TrunkCommand::Set {
                name,
                host,
                settings,
                enabled,
            } => {
                let mut changes = settings.changes()?;
                changes.host = host.map(|h| h.trim().to_string());
                changes.enabled = enabled.map(crate::OnOff::on);
                let password_changed = changes.password.is_some();
                if !store.update_trunk(&name, changes).await? {
                    bail!("no trunk named {name}");
                }
                let t = store.trunk(&name).await?.context("the trunk went away")?;
                let mut detail = t.describe();
                if password_changed {
                    detail.push_str(", password changed");
                }
                audit_cli(&store, "trunk.set", &name, &detail).await;
                println!("changed trunk {name}");
            }
            TrunkCommand::List => {
                println!(
                    "{:<16} {:<12} {:<28} {:<5} {:<20} {:<8} {:<8} PEERS",
                    "NAME", "KIND", "HOST", "TRANS", "USERNAME", "PASSWORD", "ENABLED"
                );
                for t in store.trunks().await? {
                    println!(
                        "{:<16} {:<12} {:<28} {:<5} {:<20} {:<8} {:<8} {}",
                        t.name,
                        t.kind(),
                        format!("{}:{}", t.host, t.port),
                        t.transport,
                        t.username.as_deref().unwrap_or("-"),
                        if t.password.is_some() { "set" } else { "-" },
                        if t.enabled { "yes" } else { "no" },
                        t.peers
                            .iter()
                            .map(IpAddr::to_string)
                            .collect::<Vec<_>>()
                            .join(",")
                    );
                    println!("{:<16} {}", "", t.options_text());
                }
                return Ok(());
            }
            TrunkCommand::Remove { name, .. } => {
                if !store.remove_trunk(&name).await? {
                    bail!("no trunk named {name}");
                }
                audit_cli(&store, "trunk.remove", &name, "").await;
                println!("removed trunk {name}");
            }
            TrunkCommand::Status { .. } => unreachable!("answered above"),
        }
        tell_server(config, http);
        Ok(())
    }
    .await;
    store.close().await;
    result
}

/// Ask a running server on this machine to read the trunks now; without one, say when it will.
fn tell_server(config: &Config, http: Option<String>) {
    match http_request(config, http, "POST", "/api/v1/trunks/reload", Some("{}")) {
        Ok((200, _)) => println!("the running server reads the trunks and numbers now"),
        _ => println!(
            "(no running server here answered; a server reads the trunks at start and every minute)"
        ),
    }
}

fn status(config: &Config, http: Option<String>, json: bool) -> Result<()> {
    let (code, body) = http_request(config, http, "GET", "/api/v1/status", None)?;
    if code != 200 {
        bail!("the server refused: {}", body.trim());
    }
    let st: serde_json::Value =
        serde_json::from_str(&body).context("unexpected answer from the server")?;
    let trunks = st["trunks"].as_array().cloned().unwrap_or_default();
    if json {
        println!("{}", serde_json::to_string_pretty(&trunks)?);
        return Ok(());
    }
    print_trunks(&trunks);
    Ok(())
}

/// The trunks of a status, one line each (`parley status` and `parley trunk status`).
pub fn print_trunks(trunks: &[serde_json::Value]) {
    println!("Trunks ({}):", trunks.len());
    for t in trunks {
        let mut line = format!(
            "  {:<16} {:<12} {:<28} {}",
            shown(&t["name"]),
            shown(&t["kind"]),
            shown(&t["address"]),
            shown(&t["state"])
        );
        if let Some(e) = t["expires_in"].as_u64() {
            line.push_str(&format!(", expires in {e}s"));
        }
        if t["reason"].is_string() {
            line.push_str(&format!(": {}", shown(&t["reason"])));
        }
        if let Some(r) = t["retry_in"].as_u64() {
            line.push_str(&format!(", retry in {r}s"));
        }
        println!("{line}");
    }
}
