//! The `parley` command: `serve` runs the phone system; `user ...` administers accounts in the data
//! directory (with or without a running server); `status` asks a running server what it is doing.

mod config;
mod notify_cli;
mod tls;
mod trunk_cli;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use config::Config;
use parley_core::vm::GreetingKind;
use parley_store::{AudioKey, NewUser, Privilege, Store, StoreError, UserChanges};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

#[derive(Parser)]
#[command(
    name = "parley",
    version,
    about = "Parley, an open-source business phone system"
)]
struct Cli {
    /// TOML configuration file (flags override it).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Data directory (default ./parley-data).
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// Database: postgres://user:password@host/name, or sqlite:DIR (default: SQLite in the data
    /// directory).
    #[arg(long, global = true, env = "PARLEY_DATABASE", hide_env_values = true)]
    database: Option<String>,
    /// Where audio is kept: `files` (under the data directory) or `database` (default: files with
    /// SQLite, the database with PostgreSQL).
    #[arg(long, global = true)]
    audio: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the phone system.
    Serve(ServeArgs),
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// The database: where it is, its schema version and row counts; copying it to another.
    #[command(subcommand)]
    Db(DbCommand),
    /// ManagerAssistant application instances (for the Callisto-compatible API).
    #[command(subcommand, name = "ma-instance")]
    MaInstance(InstanceCommand),
    /// Show the audit log of changes, newest first.
    Audit {
        /// How many entries.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Voicemail boxes: settings, messages, and the message-waiting lamp.
    #[command(subcommand)]
    Mailbox(MailboxCommand),
    /// The notification outbox: emails, SMS and webhook deliveries, pending, sent or failed.
    #[command(subcommand)]
    Outbox(notify_cli::OutboxCommand),
    /// Webhooks: URLs that receive a signed JSON event for new, read and deleted messages.
    #[command(subcommand)]
    Webhook(notify_cli::WebhookCommand),
    /// Trunks to carriers: add, change, list, remove, and their registrations' state.
    #[command(subcommand)]
    Trunk(trunk_cli::TrunkCommand),
    /// The company's numbers (DIDs): where calls from the trunks to each one go.
    #[command(subcommand)]
    Did(trunk_cli::DidCommand),
    /// Show registrations, trunks and calls of a running server.
    Status {
        /// HTTP address of the running server (default: from the config, else 127.0.0.1:8080).
        #[arg(long)]
        http: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// SIP listen address, UDP and TCP (default 0.0.0.0:5060).
    #[arg(long)]
    sip_listen: Option<std::net::SocketAddr>,
    /// HTTP listen address (default 0.0.0.0:8080).
    #[arg(long)]
    http_listen: Option<std::net::SocketAddr>,
    /// HTTPS listen address for the portal and APIs (default: none), with `tls_cert` and `tls_key`
    /// from the configuration or a self-signed certificate kept in the data directory.
    #[arg(long)]
    https_listen: Option<std::net::SocketAddr>,
    /// RTP port range LOW-HIGH (default 10000-20000).
    #[arg(long)]
    rtp_ports: Option<String>,
    /// The address written into SDP and Contact.
    #[arg(long)]
    public_addr: Option<std::net::IpAddr>,
    /// Log level or tracing filter (default info).
    #[arg(long)]
    log_level: Option<String>,
    /// Provision demo extensions 100-104 and print their credentials.
    #[arg(long)]
    demo: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum OnOff {
    On,
    Off,
}

impl OnOff {
    fn on(self) -> bool {
        matches!(self, OnOff::On)
    }
}

#[derive(Subcommand)]
enum MailboxCommand {
    /// Show a mailbox's settings, counts and messages.
    Show {
        /// Mailbox (extension) number.
        ext: String,
    },
    /// Change a mailbox's settings.
    Set {
        /// Mailbox (extension) number.
        ext: String,
        /// Ask for the PIN even from the owner's own phone.
        #[arg(long)]
        always_prompt: Option<OnOff>,
        /// Store arriving messages as read: no lamp, no count (for users who read voicemail by email).
        #[arg(long)]
        mark_read: Option<OnOff>,
        /// Turn the recorded temporary greeting on or off (on needs a recorded one).
        #[arg(long)]
        temporary: Option<OnOff>,
        /// "Forward to Email Account": email each new message, audio attached, to the owner's address.
        #[arg(long)]
        forward_email: Option<OnOff>,
        /// "Send SMS when receiving a message" (needs the sms privilege and a mobile number).
        #[arg(long)]
        sms: Option<OnOff>,
    },
    /// MWI calibrate: switch the message-waiting lamp of the mailbox's phones on or off now
    /// (asks the running server).
    Mwi {
        /// Mailbox (extension) number.
        ext: String,
        /// Lamp state.
        state: OnOff,
        /// HTTP address of the running server (default: from the config, else 127.0.0.1:8080).
        #[arg(long)]
        http: Option<String>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add an account.
    Add {
        /// Extension number (2-10 digits).
        ext: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Password for SIP and the portal.
        #[arg(long)]
        password: String,
        /// Voicemail PIN (digits).
        #[arg(long)]
        pin: Option<String>,
        /// Email address.
        #[arg(long)]
        email: Option<String>,
        /// Mobile number (for SMS on new messages).
        #[arg(long)]
        mobile: Option<String>,
        /// Privilege: admin, rest (REST Authentication, the Callisto API), groups (manage
        /// ManagerAssistant groups), sms (may get SMS on new messages), routes (own call routes),
        /// follow-me-pin (Follow-Me calls taken with the PIN) or conferences (may schedule
        /// conferences); repeat or use commas.
        #[arg(long = "privilege", value_delimiter = ',')]
        privileges: Vec<String>,
    },
    /// List accounts.
    List,
    /// Remove an account with its messages, greetings and call records.
    Remove {
        /// Extension number.
        ext: String,
        /// Keep them in an archive under the data directory instead of deleting them.
        #[arg(long)]
        archive: bool,
    },
    /// Change an account.
    Set {
        /// Extension number.
        ext: String,
        /// New display name.
        #[arg(long)]
        name: Option<String>,
        /// New password.
        #[arg(long)]
        password: Option<String>,
        /// New voicemail PIN.
        #[arg(long)]
        pin: Option<String>,
        /// New email address (empty to clear).
        #[arg(long)]
        email: Option<String>,
        /// New mobile number (empty to clear).
        #[arg(long)]
        mobile: Option<String>,
        /// Replace the privileges (admin, rest, groups, sms, routes, follow-me-pin, conferences; `none`
        /// clears them); repeat or use commas.
        #[arg(long = "privilege", value_delimiter = ',')]
        privileges: Vec<String>,
        /// What the user may dial outside: internal, local (the area code of the company's
        /// main number), national or international (emergency numbers always go through; default
        /// internal).
        #[arg(long)]
        dial_class: Option<String>,
        /// The user's own outside number in E.164 (+15855550142), the caller ID callers outside see;
        /// empty clears it (the company's main number is shown).
        #[arg(long)]
        outside_number: Option<String>,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// Show the database in use, its schema version and how many rows each table holds.
    Status,
    /// Copy every row of one database into another, empty one (stop Parley first), e.g. from the
    /// embedded SQLite to PostgreSQL: `parley db copy --from sqlite:./parley-data --to postgres://...`.
    /// Audio files stay under the data directory. Counts are compared at the end.
    Copy {
        /// The database copied (`sqlite:DIR` or `postgres://...`).
        #[arg(long)]
        from: String,
        /// The database written (`postgres://...` or `sqlite:DIR`); must be empty.
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
enum InstanceCommand {
    /// Create an application instance (the <MAGroup> of the API paths).
    Add {
        /// Name (letters, digits, '_', '-', '.').
        name: String,
    },
    /// List instances.
    List,
    /// Remove an instance with all its groups.
    Remove {
        /// Name.
        name: String,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")
        .and_then(|rt| rt.block_on(run(cli)));
    if let Err(e) = result {
        eprintln!("parley: {e:#}");
        std::process::exit(1);
    }
}

/// Open the store for `serve`: a database server that cannot be reached yet (starting, or the network
/// not up) is waited for, with the reason logged, rather than failing the start; anything else (a bad
/// URL, a refused password, a schema newer than this build) stops the start with its reason.
async fn open_store_retrying(config: &Config) -> Result<Store> {
    let location = parley_store::Location::parse(config.database.as_deref(), &config.data)?;
    let mut delay = Duration::from_secs(1);
    loop {
        match Store::connect(&location, &config.data).await {
            Ok(store) => return config.with_audio(store).await,
            Err(e) if e.is_unavailable() => {
                warn!(database = %location, error = %e, retry_in_secs = delay.as_secs(), "the database cannot be reached; waiting for it");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = tokio::signal::ctrl_c() => bail!("stopped while waiting for the database {location}"),
                }
                delay = (delay * 2).min(Duration::from_secs(30));
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot open the database {location}"))
            }
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let mut config = match &cli.config {
        Some(p) => Config::from_file(p)?,
        None => Config::default(),
    };
    if let Some(d) = cli.data {
        config.data = d;
    }
    if let Some(db) = cli.database {
        config.database = Some(db);
    }
    if let Some(a) = cli.audio {
        config.audio = Some(a);
    }
    match cli.command {
        Command::Serve(args) => serve(config, args).await,
        Command::User(cmd) => user(config, cmd).await,
        Command::Mailbox(cmd) => mailbox(config, cmd).await,
        Command::MaInstance(cmd) => ma_instance(config, cmd).await,
        Command::Db(cmd) => db(config, cmd).await,
        Command::Audit { limit } => audit(config, limit).await,
        Command::Outbox(cmd) => notify_cli::outbox(&config, cmd).await,
        Command::Webhook(cmd) => notify_cli::webhook(&config, cmd).await,
        Command::Trunk(cmd) => trunk_cli::trunk(&config, cmd).await,
        Command::Did(cmd) => trunk_cli::did(&config, cmd).await,
        Command::Status { http, json } => status(config, http, json),
    }
}

async fn mailbox(config: Config, cmd: MailboxCommand) -> Result<()> {
    if let MailboxCommand::Mwi { ext, state, http } = cmd {
        let body = format!("{{\"on\":{}}}", state.on());
        let (code, answer) = http_request(
            &config,
            http,
            "POST",
            &format!("/api/v1/mailboxes/{ext}/mwi"),
            Some(&body),
        )?;
        if code != 200 {
            bail!("the server refused: {}", answer.trim());
        }
        let v: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
        println!(
            "message-waiting lamp of mailbox {ext} set {} ({} phone(s) notified)",
            if state.on() { "on" } else { "off" },
            v["phones"]
        );
        return Ok(());
    }
    let store = config.open_store().await?;
    let result = mailbox_local(&store, cmd).await;
    store.close().await;
    result
}

async fn mailbox_local(store: &Store, cmd: MailboxCommand) -> Result<()> {
    match cmd {
        MailboxCommand::Show { ext } => {
            let Some(user) = store.get_user(&ext).await? else {
                bail!("extension {ext} does not exist");
            };
            let s = store.mailbox_settings(&ext).await?;
            let c = store.message_counts(&ext).await?;
            println!("Mailbox {ext} ({})", user.name);
            println!(
                "  always prompt: {}   mark as read: {}   temporary greeting: {}",
                on_off(s.always_prompt),
                on_off(s.mark_read),
                if s.temp_active { "active" } else { "off" }
            );
            println!(
                "  forward to email: {} ({})   SMS: {} ({})",
                on_off(s.forward_email),
                user.email.as_deref().unwrap_or("no address"),
                on_off(s.send_sms),
                user.mobile.as_deref().unwrap_or("no mobile number")
            );
            println!("  messages: {} new, {} old", c.new, c.old);
            for m in store.list_messages(&ext).await? {
                println!(
                    "  #{:<6} {:<8} from {:<12} at {}  {:.1}s",
                    m.id,
                    m.folder,
                    m.caller.unwrap_or_else(|| "unknown".into()),
                    m.received_at,
                    m.duration_ms as f64 / 1000.0
                );
            }
            Ok(())
        }
        MailboxCommand::Set {
            ext,
            always_prompt,
            mark_read,
            temporary,
            forward_email,
            sms,
        } => {
            if always_prompt.is_none()
                && mark_read.is_none()
                && temporary.is_none()
                && forward_email.is_none()
                && sms.is_none()
            {
                bail!("nothing to change: give --always-prompt, --mark-read, --temporary, --forward-email or --sms");
            }
            let Some(user) = store.get_user(&ext).await? else {
                bail!("extension {ext} does not exist");
            };
            if forward_email.is_some_and(OnOff::on) && user.email.is_none() {
                bail!("extension {ext} has no email address (parley user set {ext} --email ...)");
            }
            if sms.is_some_and(OnOff::on) {
                if user.mobile.is_none() {
                    bail!(
                        "extension {ext} has no mobile number (parley user set {ext} --mobile ...)"
                    );
                }
                if !user
                    .privileges
                    .iter()
                    .any(|p| matches!(p, Privilege::Sms | Privilege::Admin))
                {
                    bail!(
                        "extension {ext} may not send SMS (parley user set {ext} --privilege sms)"
                    );
                }
            }
            if let Some(v) = temporary {
                if v.on()
                    && !store
                        .audio_exists(&AudioKey::greeting(&ext, GreetingKind::Temporary))
                        .await
                {
                    bail!("mailbox {ext} has no recorded temporary greeting (record it by phone: *97, PIN, 0 4 1)");
                }
                let mut s = store.mailbox_settings(&ext).await?;
                s.temp_active = v.on();
                store.set_mailbox_settings(&ext, s).await?;
            }
            let mut s = store.mailbox_settings(&ext).await?;
            if let Some(v) = always_prompt {
                s.always_prompt = v.on();
            }
            if let Some(v) = mark_read {
                s.mark_read = v.on();
            }
            if let Some(v) = forward_email {
                s.forward_email = v.on();
            }
            if let Some(v) = sms {
                s.send_sms = v.on();
            }
            store.set_mailbox_settings(&ext, s).await?;
            println!("updated mailbox {ext}");
            Ok(())
        }
        MailboxCommand::Mwi { .. } => Ok(()),
    }
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

/// One HTTP/1.1 request to the running server; returns the status code and body.
fn http_request(
    config: &Config,
    http: Option<String>,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<(u16, String)> {
    let addr = http.unwrap_or_else(|| {
        let a = config.http_listen;
        if a.ip().is_unspecified() {
            format!("127.0.0.1:{}", a.port())
        } else {
            a.to_string()
        }
    });
    // The control token goes to this machine only: it is the key to the status of every call.
    let local = addr
        .parse::<std::net::SocketAddr>()
        .map(|a| a.ip().is_loopback())
        .unwrap_or_else(|_| addr.starts_with("localhost:"));
    if !local {
        bail!("--http must name this machine (127.0.0.1, ::1 or localhost): the control token is not sent elsewhere");
    }
    let mut s = std::net::TcpStream::connect(&addr)
        .with_context(|| format!("no Parley server answering at {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let body = body.unwrap_or_default();
    // The running server wrote its control token into the data directory (readable by its user only):
    // holding it is what lets this command line read the status and steer the server.
    let token_path = config.data.join(parley_web::CONTROL_TOKEN_FILE);
    let token = std::fs::read_to_string(&token_path).with_context(|| {
        format!(
            "cannot read {} (is the server running on this data directory, and are you its user?)",
            token_path.display()
        )
    })?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        token.trim(),
        body.len()
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let code = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

fn parse_privileges(list: &[String]) -> Result<Vec<Privilege>, StoreError> {
    list.iter()
        .filter(|p| !p.trim().is_empty() && !p.trim().eq_ignore_ascii_case("none"))
        .map(|p| Privilege::parse(p))
        .collect()
}

/// Record a command-line change in the audit log (never its secrets).
async fn audit_cli(store: &Store, action: &str, target: &str, detail: &str) {
    if let Err(e) = store
        .audit(
            parley_store::unix_now(),
            "cli",
            "local",
            action,
            target,
            detail,
        )
        .await
    {
        eprintln!("warning: audit log not written: {e}");
    }
}

async fn user(config: Config, cmd: UserCommand) -> Result<()> {
    let store = config.open_store().await?;
    let result = user_command(&store, cmd, config.pin_min_length.max(1)).await;
    store.close().await;
    result
}

/// The PIN policy (minimum length, nothing trivial) for a PIN an administrator chooses.
fn check_pin(pin: Option<&str>, min_len: usize, ext: &str) -> Result<()> {
    if let Some(p) = pin {
        parley_core::vm::pin::check(p, min_len, ext)
            .map_err(|e| anyhow::anyhow!("PIN refused: {e}"))?;
    }
    Ok(())
}

async fn user_command(store: &Store, cmd: UserCommand, pin_min_len: usize) -> Result<()> {
    match cmd {
        UserCommand::Add {
            ext,
            name,
            password,
            pin,
            email,
            mobile,
            privileges,
        } => {
            check_pin(pin.as_deref(), pin_min_len, &ext)?;
            let privileges = parse_privileges(&privileges)?;
            let detail = format!(
                "name={name} privileges={}",
                privileges
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            );
            store
                .add_user(&NewUser {
                    extension: ext.clone(),
                    name,
                    password,
                    pin,
                    email,
                    privileges,
                })
                .await?;
            if mobile.is_some() {
                let changes = UserChanges {
                    mobile,
                    ..Default::default()
                };
                if let Err(e) = store.update_user(&ext, &changes).await {
                    let _ = store.remove_user(&ext).await;
                    return Err(e.into());
                }
            }
            audit_cli(store, "user.add", &ext, &detail).await;
            println!("added extension {ext}");
        }
        UserCommand::List => {
            let users = store.list_users().await?;
            println!(
                "{:<10} {:<30} {:<30} {:<4} PRIVILEGES",
                "EXT", "NAME", "EMAIL", "PIN"
            );
            for u in users {
                println!(
                    "{:<10} {:<30} {:<30} {:<4} {}",
                    u.extension,
                    u.name,
                    u.email.unwrap_or_default(),
                    if u.has_pin { "set" } else { "-" },
                    u.privileges
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                );
            }
        }
        UserCommand::Remove { ext, archive } => {
            let disposal = if archive {
                parley_store::Disposal::Archive
            } else {
                parley_store::Disposal::Delete
            };
            match store.remove_account(&ext, disposal).await? {
                Some(dir) => {
                    audit_cli(
                        store,
                        "user.remove",
                        &ext,
                        &format!("archived in {}", dir.display()),
                    )
                    .await;
                    println!("removed extension {ext}; its messages, greetings and call records are archived in {}", dir.display());
                }
                None => {
                    audit_cli(store, "user.remove", &ext, "data deleted").await;
                    println!(
                        "removed extension {ext} with its messages, greetings and call records"
                    );
                }
            }
        }
        UserCommand::Set {
            ext,
            name,
            password,
            pin,
            email,
            mobile,
            privileges,
            dial_class,
            outside_number,
        } => {
            let nothing = name.is_none()
                && password.is_none()
                && pin.is_none()
                && email.is_none()
                && mobile.is_none()
                && privileges.is_empty()
                && dial_class.is_none()
                && outside_number.is_none();
            if nothing {
                bail!("nothing to change: give --name, --password, --pin, --email, --mobile, --privilege, --dial-class or --outside-number");
            }
            let class = match dial_class.as_deref() {
                Some(c) => Some(parley_core::trunk::dialplan::DialClass::parse(c).with_context(
                    || format!("{c:?} is not a dialling class: internal, local, national or international"),
                )?),
                None => None,
            };
            let number =
                outside_number.map(|n| Some(n.trim().to_string()).filter(|n| !n.is_empty()));
            if let Some(Some(n)) = &number {
                parley_store::check_e164(n)?;
            }
            check_pin(pin.as_deref(), pin_min_len, &ext)?;
            let privileges = if privileges.is_empty() {
                None
            } else {
                Some(parse_privileges(&privileges)?)
            };
            let mut changed: Vec<String> = Vec::new();
            for (k, present) in [
                ("name", name.is_some()),
                ("password", password.is_some()),
                ("pin", pin.is_some()),
                ("email", email.is_some()),
                ("mobile", mobile.is_some()),
            ] {
                if present {
                    changed.push(k.to_string());
                }
            }
            if let Some(p) = &privileges {
                changed.push(format!(
                    "privileges={}",
                    p.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(",")
                ));
            }
            if let Some(c) = class {
                changed.push(format!("dial_class={c}"));
            }
            if let Some(n) = &number {
                changed.push(format!("outside_number={}", n.as_deref().unwrap_or("none")));
            }
            // The account and its dialling change in one transaction.
            store
                .update_user(
                    &ext,
                    &UserChanges {
                        name,
                        password,
                        pin,
                        email,
                        mobile,
                        privileges,
                        dial_class: class,
                        outside_number: number.map(Option::unwrap_or_default),
                    },
                )
                .await
                .map_err(|e| match e {
                    parley_store::StoreError::NotFound(_) => {
                        anyhow::anyhow!("extension {ext} does not exist")
                    }
                    e => e.into(),
                })?;
            audit_cli(store, "user.set", &ext, &changed.join(" ")).await;
            println!("updated extension {ext}");
        }
    }
    Ok(())
}

async fn db(config: Config, cmd: DbCommand) -> Result<()> {
    match cmd {
        DbCommand::Status => {
            let store = config.open_store().await?;
            println!(
                "database {} (schema version {})",
                store.location(),
                parley_store::SCHEMA_VERSION
            );
            for (table, n) in store.table_counts().await? {
                println!("{table:<18} {n}");
            }
            store.close().await;
        }
        DbCommand::Copy { from, to } => {
            let open = |db: &str| {
                let location = parley_store::Location::parse(Some(db), &config.data);
                let data = config.data.clone();
                async move {
                    let location = location?;
                    Store::connect(&location, &data)
                        .await
                        .with_context(|| format!("cannot open the database {location}"))
                }
            };
            if let parley_store::Location::Sqlite(dir) =
                parley_store::Location::parse(Some(&from), &config.data)?
            {
                if !dir.join("parley.db").is_file() {
                    bail!("no Parley database in {} (parley.db)", dir.display());
                }
            }
            // The source's audio is where its database says; the target's where `--audio`
            // says, else where its back end keeps it by default.
            let source = open(&from).await?;
            let target = config.with_audio(open(&to).await?).await?;
            if source.location() == target.location() {
                bail!("--from and --to are the same database");
            }
            let counts = source.copy_into(&target).await?;
            audit_cli(
                &target,
                "db.copy",
                &target.location().to_string(),
                &format!("from {}", source.location()),
            )
            .await;
            println!("copied {} into {}:", source.location(), target.location());
            for (table, n) in counts {
                println!("{table:<18} {n}");
            }
            source.close().await;
            target.close().await;
        }
    }
    Ok(())
}

async fn ma_instance(config: Config, cmd: InstanceCommand) -> Result<()> {
    let store = config.open_store().await?;
    let result = async {
        match cmd {
            InstanceCommand::Add { name } => {
                store
                    .add_ma_instance(&name, parley_store::unix_now())
                    .await?;
                audit_cli(&store, "ma.instance.add", &name, "").await;
                println!("added ManagerAssistant instance {name}");
            }
            InstanceCommand::List => {
                for n in store.ma_instances().await? {
                    println!("{n}");
                }
            }
            InstanceCommand::Remove { name } => {
                store.remove_ma_instance(&name).await?;
                audit_cli(&store, "ma.instance.remove", &name, "").await;
                println!("removed ManagerAssistant instance {name}");
            }
        }
        Ok::<(), anyhow::Error>(())
    }
    .await;
    store.close().await;
    result
}

async fn audit(config: Config, limit: u32) -> Result<()> {
    let store = config.open_store().await?;
    let entries = store.audit_log(limit).await;
    store.close().await;
    for e in entries? {
        let at = chrono::DateTime::from_timestamp(e.at, 0)
            .map(|t| {
                t.with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string()
            })
            .unwrap_or_else(|| e.at.to_string());
        println!(
            "#{:<6} {at} {:<8} {:<15} {:<24} {:<24} {}",
            e.id, e.actor, e.source, e.action, e.target, e.detail
        );
    }
    Ok(())
}

/// A text field of the status as it may be printed: what phones wrote there (User-Agent, Contact)
/// cannot steer the terminal.
fn shown(v: &serde_json::Value) -> String {
    parley_core::text::printable(v.as_str().unwrap_or(""))
}

fn status(config: Config, http: Option<String>, json: bool) -> Result<()> {
    let (_, body) = http_request(&config, http, "GET", "/api/v1/status", None)?;
    let st: serde_json::Value =
        serde_json::from_str(&body).context("unexpected answer from the server")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&st)?);
        return Ok(());
    }
    let regs = st["registrations"].as_array().cloned().unwrap_or_default();
    println!("Registrations ({}):", regs.len());
    for r in regs {
        println!(
            "  {:<8} {:<45} via {:<28} expires in {}s  {}",
            shown(&r["extension"]),
            shown(&r["contact"]),
            shown(&r["source"]),
            r["expires_in"],
            shown(&r["user_agent"])
        );
    }
    let trunks = st["trunks"].as_array().cloned().unwrap_or_default();
    if !trunks.is_empty() {
        trunk_cli::print_trunks(&trunks);
    }
    let locks = st["lockouts"].as_array().cloned().unwrap_or_default();
    if !locks.is_empty() {
        println!("Lockouts ({}):", locks.len());
        for l in locks {
            println!("  {:<30} {}s left", shown(&l["what"]), l["seconds_left"]);
        }
    }
    let calls = st["calls"].as_array().cloned().unwrap_or_default();
    println!("Calls in progress ({}):", calls.len());
    for c in calls {
        println!(
            "  #{:<5} {} -> {}  {}  {}s  rtp {}/{}  strangers dropped {}",
            c["id"],
            shown(&c["caller"]),
            shown(&c["callee"]),
            shown(&c["state"]),
            c["age_secs"],
            c["packets_a_to_b"],
            c["packets_b_to_a"],
            c["packets_from_strangers"]
        );
    }
    let vm = st["voicemail"].as_array().cloned().unwrap_or_default();
    println!("Voicemail calls ({}):", vm.len());
    for v in vm {
        println!(
            "  #{:<5} {} -> {}{}  {}s  rtp in {} lost {}  strangers dropped {}",
            v["id"],
            shown(&v["caller"]),
            shown(&v["what"]),
            if v["recording"].as_bool().unwrap_or(false) {
                " (recording)"
            } else {
                ""
            },
            v["age_secs"],
            v["packets_received"],
            v["packets_lost"],
            v["packets_from_strangers"]
        );
    }
    Ok(())
}

async fn serve(mut config: Config, args: ServeArgs) -> Result<()> {
    if let Some(v) = args.sip_listen {
        config.sip_listen = v;
    }
    if let Some(v) = args.http_listen {
        config.http_listen = v;
    }
    if let Some(v) = args.https_listen {
        config.https_listen = Some(v);
    }
    if let Some(v) = args.rtp_ports {
        config.rtp_ports = v;
    }
    if let Some(v) = args.public_addr {
        config.public_addr = Some(v);
    }
    if let Some(v) = args.log_level {
        config.log_level = v;
    }
    let mut filter = if config.log_level.contains('=') || config.log_level.contains(',') {
        config.log_level.clone()
    } else {
        format!("{},rsipstack=warn", config.log_level)
    };
    // Every statement sqlx runs is a debug line of its own; slow ones are warnings.
    if !filter.contains("sqlx") {
        filter.push_str(",sqlx=warn");
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter).context("invalid --log-level")?,
        )
        .with_ansi(false)
        .init();
    let rtp = config.rtp_range()?;
    let algorithms = config.algorithms()?;
    let store = open_store_retrying(&config)
        .await?
        .with_node(&config.node_name());
    if args.demo {
        provision_demo(&store).await?;
    }
    let public_ip = config.public_ip();
    let status = parley_sip::StatusHandle::default();
    let cancel = CancellationToken::new();
    let vm = config.voicemail()?;
    let (control, control_rx) = tokio::sync::mpsc::unbounded_channel();
    let switch = parley_sip::SwitchConfig {
        local: parley_core::call::LocalAddr {
            host: public_ip.to_string(),
            port: config.sip_listen.port(),
        },
        media_ip: public_ip,
        realm: parley_store::SIP_REALM.to_string(),
        digest_key: rand::random(),
        seed: rand::random(),
        presence_code: config.presence_code()?,
        conference: config.conference()?,
        no_answer: Duration::from_secs(config.no_answer_secs),
        registrar: parley_core::registrar::RegistrarConfig {
            default_expires: config.register_default_expires,
            min_expires: config.register_min_expires,
            max_expires: config.register_max_expires,
            max_expires_stream: config.sip_tcp_idle_secs.clamp(30, u64::from(u32::MAX)) as u32,
            max_contacts: config.register_max_contacts.max(1),
        },
        nonce_ttl: Duration::from_secs(config.nonce_ttl_secs),
        algorithms,
        dangerous_digest_rfc2069: config.dangerous_digest_rfc2069,
        call_waiting: config.call_waiting,
        outside: config.outside()?,
        trunk_retry: parley_core::switch::TrunkRetry {
            first: Duration::from_secs(config.trunk_retry_secs.max(1)),
            max: Duration::from_secs(
                config
                    .trunk_retry_max_secs
                    .max(config.trunk_retry_secs)
                    .max(1),
            ),
        },
        guard: parley_core::guard::GuardConfig {
            max_failures: config.auth_max_failures.max(1),
            window: Duration::from_secs(config.auth_failure_window_secs),
            lockout: Duration::from_secs(config.auth_lockout_secs),
        },
        vm: vm.clone(),
        limits: parley_sip::Limits {
            calls_per_account: config.max_calls_per_account.max(1),
            subscriptions_per_account: config.max_subscriptions_per_account.max(1),
            voicemail_per_account: config.max_voicemail_per_account.max(1),
            voicemail_per_address: config.max_voicemail_per_address.max(1),
        },
    };
    let sip = parley_sip::SipConfig {
        listen: config.sip_listen,
        public_ip,
        rtp_ports: rtp,
        relay_threads: config.relay_threads,
        switch,
        transport: parley_sip::TransportLimits {
            tcp_per_address: config.sip_tcp_per_address.max(1),
            tcp_total: config.sip_tcp_total.max(1),
            tcp_idle: Duration::from_secs(config.sip_tcp_idle_secs.max(30)),
        },
    };
    let notifier = parley_notify::spawn(store.clone(), config.notify(public_ip), cancel.clone())
        .context("invalid notification settings ([smtp], [email], [sms], [outbox])")?;
    let sip_task = parley_sip::spawn(
        sip,
        store.clone(),
        status.clone(),
        control_rx,
        cancel.clone(),
    );
    let listener = tokio::net::TcpListener::bind(config.http_listen)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", config.http_listen))?;
    let control_token = parley_web::write_control_token(&config.data)
        .context("cannot write the control token into the data directory")?;
    let app = parley_web::app(parley_web::AppState {
        status,
        control: Some(control),
        control_token: Some(control_token),
        store: Some(store.clone()),
        guard: parley_web::login_guard(parley_core::guard::GuardConfig {
            max_failures: config.auth_max_failures.max(1),
            window: Duration::from_secs(config.auth_failure_window_secs),
            lockout: Duration::from_secs(config.auth_lockout_secs),
        }),
        voicemail: vm.clone(),
        sessions: Default::default(),
        no_answer_secs: config.no_answer_secs,
        presence_code: config.presence_code()?,
        conference: config.conference()?,
        time_zone: config::system_time_zone(),
    });
    let https = match config.https_listen {
        Some(addr) => {
            let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
            for ip in [public_ip, addr.ip()] {
                if !ip.is_unspecified() && !names.contains(&ip.to_string()) {
                    names.push(ip.to_string());
                }
            }
            let id = tls::identity(
                &config.data,
                config.tls_cert.as_deref(),
                config.tls_key.as_deref(),
                &names,
            )?;
            println!(
                "HTTPS on {addr}: certificate {}{} (SHA-256 {})",
                id.cert_path.display(),
                if id.generated {
                    ", self-signed, made now"
                } else {
                    ""
                },
                id.fingerprint
            );
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen for HTTPS on {addr}"))?;
            let listener = tls::TlsListener::new(listener, id.config)?;
            let app = app.clone();
            let https_cancel = cancel.clone();
            Some(tokio::spawn(async move {
                use axum::serve::ListenerExt;
                axum::serve(
                    listener.tap_io(|_| {}),
                    app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
                )
                .with_graceful_shutdown(async move { https_cancel.cancelled().await })
                .await
            }))
        }
        None => None,
    };
    let http_cancel = cancel.clone();
    let http = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move { http_cancel.cancelled().await })
        .await
    });
    info!(sip = %config.sip_listen, http = %config.http_listen, public_ip = %public_ip, rtp = %config.rtp_ports, data = %config.data.display(), "Parley is running");
    let cancel_sig = cancel.clone();
    let mut sip_task = sip_task;
    tokio::select! {
        _ = shutdown_signal() => info!("shutting down"),
        r = &mut sip_task => {
            cancel_sig.cancel();
            store.close().await;
            return match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.into()),
                Err(e) => Err(e.into()),
            };
        }
    }
    cancel.cancel();
    match tokio::time::timeout(Duration::from_secs(5), sip_task).await {
        Ok(Ok(Err(e))) => warn!(error = %e, "SIP server ended with an error"),
        Err(_) => warn!("SIP server did not stop within 5 s"),
        _ => {}
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), http).await;
    if let Some(https) = https {
        let _ = tokio::time::timeout(Duration::from_secs(2), https).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), notifier).await;
    store.close().await;
    info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn provision_demo(store: &Store) -> Result<()> {
    const NAMES: [&str; 5] = [
        "Alice Demo",
        "Bob Demo",
        "Carol Demo",
        "Dave Demo",
        "Erin Demo",
    ];
    println!(
        "Demo extensions (register a softphone with user = extension, realm {}):",
        parley_store::SIP_REALM
    );
    for (i, name) in NAMES.iter().enumerate() {
        let ext = format!("{}", 100 + i);
        let password = format!("{:06}", rand::random::<u32>() % 1_000_000) + "pw";
        let pin = format!("{:05}", rand::random::<u32>() % 100_000);
        let u = NewUser {
            extension: ext.clone(),
            name: name.to_string(),
            password: password.clone(),
            pin: Some(pin.clone()),
            email: None,
            // The first demo user administers the system.
            privileges: if i == 0 {
                vec![Privilege::Admin]
            } else {
                Vec::new()
            },
        };
        match store.add_user(&u).await {
            Ok(()) => println!("  {ext}  {name:<12} password {password}  voicemail PIN {pin}"),
            Err(StoreError::Duplicate(_)) => println!("  {ext}  {name:<12} already provisioned (change with `parley user set {ext} --password ...`)"),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
