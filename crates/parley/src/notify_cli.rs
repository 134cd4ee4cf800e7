//! `parley outbox ...` and `parley webhook ...`: the notification outbox (see what is pending, sent or
//! failed, and put failed notifications back in the queue) and webhook subscriptions. They work on the
//! data directory, with or without a running server; a running server picks up retried rows within
//! seconds.

use anyhow::{bail, Result};
use clap::Subcommand;
use parley_store::Event;

use crate::audit_cli;

#[derive(Subcommand)]
pub enum OutboxCommand {
    /// List notifications, newest first.
    List {
        /// Only this state: pending, sent or failed.
        #[arg(long)]
        state: Option<String>,
        /// Shorthand for --state failed.
        #[arg(long)]
        failed: bool,
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Queue failed notifications again (one by id, or all with --all).
    Retry {
        /// Outbox id.
        id: Option<i64>,
        /// Every failed notification.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Subcommand)]
pub enum WebhookCommand {
    /// Register a URL; prints its signing secret once.
    Add {
        /// http:// or https:// URL receiving POSTed JSON events.
        url: String,
        /// Events: message.new, message.read, message.deleted, alert.outside_limit, presence.changed (default: the message events); repeat or use commas.
        #[arg(long = "event", value_delimiter = ',')]
        events: Vec<String>,
        /// Signing secret (at least 16 characters; default: a random one).
        #[arg(long)]
        secret: Option<String>,
    },
    /// List webhooks.
    List,
    /// Remove a webhook.
    Remove {
        /// Webhook id.
        id: i64,
    },
}

pub async fn outbox(config: &crate::config::Config, cmd: OutboxCommand) -> Result<()> {
    let store = config.open_store().await?;
    let result = async {
        match cmd {
            OutboxCommand::List {
                state,
                failed,
                limit,
                json,
            } => {
                let state = if failed { Some("failed".into()) } else { state };
                let items = store.outbox_list(state.as_deref(), limit).await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&items)?);
                    return Ok(());
                }
                println!(
                    "{:<6} {:<8} {:<16} {:<8} {:<8} {:<30} LAST ERROR",
                    "ID", "CHANNEL", "EVENT", "STATE", "ATTEMPTS", "TARGET"
                );
                for i in items {
                    println!(
                        "{:<6} {:<8} {:<16} {:<8} {:<8} {:<30} {}",
                        i.id,
                        i.channel.as_str(),
                        i.event,
                        i.state,
                        i.attempts,
                        i.target,
                        i.last_error.unwrap_or_default()
                    );
                }
                Ok(())
            }
            OutboxCommand::Retry { id, all } => {
                if id.is_none() && !all {
                    bail!("give an outbox id, or --all for every failed notification");
                }
                let n = store.outbox_retry(if all { None } else { id }).await?;
                if n == 0 {
                    bail!("no failed notification to retry");
                }
                audit_cli(
                    &store,
                    "outbox.retry",
                    &id.map_or("all".into(), |i| i.to_string()),
                    "",
                )
                .await;
                println!("queued {n} notification(s) again");
                Ok(())
            }
        }
    }
    .await;
    store.close().await;
    result
}

pub async fn webhook(config: &crate::config::Config, cmd: WebhookCommand) -> Result<()> {
    let store = config.open_store().await?;
    let result = async {
        match cmd {
            WebhookCommand::Add {
                url,
                events,
                secret,
            } => {
                let events = if events.is_empty() {
                    Event::MESSAGES.to_vec()
                } else {
                    events
                        .iter()
                        .map(|e| Event::parse(e))
                        .collect::<Result<Vec<_>, _>>()?
                };
                let (id, secret) = store.add_webhook(&url, secret.as_deref(), &events).await?;
                audit_cli(&store, "webhook.add", &id.to_string(), &url).await;
                println!("added webhook {id}: {url}");
                println!("signing secret (shown once): {secret}");
                Ok(())
            }
            WebhookCommand::List => {
                println!("{:<6} {:<50} EVENTS", "ID", "URL");
                for h in store.webhooks().await? {
                    println!("{:<6} {:<50} {}", h.id, h.url, h.events.join(","));
                }
                Ok(())
            }
            WebhookCommand::Remove { id } => {
                if !store.delete_webhook(id).await? {
                    bail!("no webhook {id}");
                }
                audit_cli(&store, "webhook.remove", &id.to_string(), "").await;
                println!("removed webhook {id}");
                Ok(())
            }
        }
    }
    .await;
    store.close().await;
    result
}
