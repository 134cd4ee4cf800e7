//! The switch's lookups, carried out off the signalling task: each runs in its own task against the
//! store and the data directory, and its answer comes back on the actor's channel as an input. Only
//! reading happens here; what the answers mean is decided in the switch.

use chrono::{Datelike, TimeZone, Timelike};
use parley_core::extension::Extension;
use parley_core::switch::{Account, CountFor, Counts, JobId};
use parley_core::vm::{Folder, GreetingKind, Greetings, LocalTime, MailboxView, MessageInfo};
use parley_store::Store;
use tokio::sync::mpsc;
use tracing::warn;

use super::Back;

/// An account as the switch needs it (`None`: no such extension).
pub(super) async fn account(store: &Store, name: &str) -> Result<Option<Account>, ()> {
    if !Extension::is_valid(name) {
        return Ok(None);
    }
    let user = match store.get_user(name).await {
        Ok(Some(u)) => u,
        Ok(None) => return Ok(None),
        Err(e) => {
            warn!(error = %e, "account lookup failed");
            return Err(());
        }
    };
    let settings = store.mailbox_settings(name).await.unwrap_or_default();
    Ok(Some(Account {
        name: user.name,
        always_prompt: settings.always_prompt,
        mark_read: settings.mark_read,
        greetings: greetings(store, name, &settings),
    }))
}

/// An account for its display name only (its mailbox facts left at their defaults).
async fn name_only(store: &Store, name: &str) -> Option<Account> {
    let user = store.get_user(name).await.ok().flatten()?;
    Some(Account {
        name: user.name,
        always_prompt: true,
        mark_read: false,
        greetings: Greetings::default(),
    })
}

/// The greetings callers of `mailbox` hear, from the files present and its settings.
pub(super) fn greetings(
    store: &Store,
    mailbox: &str,
    settings: &parley_store::MailboxSettings,
) -> Greetings {
    Greetings::resolve(
        |k: GreetingKind| store.greeting_path(mailbox, k.as_str()).is_file(),
        settings.temp_active,
        settings.announcement,
        settings.recording,
    )
}

/// What the menus need of a mailbox after login.
pub(super) async fn mailbox_view(store: &Store, mailbox: &str) -> Option<MailboxView> {
    let user = store.get_user(mailbox).await.ok().flatten()?;
    let settings = store.mailbox_settings(mailbox).await.unwrap_or_default();
    let messages = store
        .list_messages(mailbox)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|m| MessageInfo {
            id: m.id,
            folder: Folder::parse(&m.folder).unwrap_or(Folder::Old),
            received: local_time(m.received_at),
            caller_is_extension: m.caller.as_deref().is_some_and(Extension::is_valid),
            caller: m.caller,
        })
        .collect();
    Some(MailboxView {
        number: user.extension,
        greetings: greetings(store, mailbox, &settings),
        messages,
        pin_is_default: store.pin_is_default(mailbox).await.unwrap_or(false),
    })
}

fn local_time(unix: i64) -> LocalTime {
    let t = chrono::Local
        .timestamp_opt(unix, 0)
        .single()
        .unwrap_or_else(|| chrono::Local.timestamp_opt(0, 0).unwrap());
    LocalTime {
        weekday: t.weekday().num_days_from_sunday() as u8,
        month: t.month() as u8,
        day: t.day() as u8,
        hour: t.hour() as u8,
        minute: t.minute() as u8,
    }
}

/// A mailbox's counts (zero when the store cannot say).
pub(super) async fn counts(store: &Store, mailbox: &str) -> Counts {
    store.message_counts(mailbox).await.unwrap_or_default()
}

/// Look up an account's HA1 in a task of its own.
pub(super) fn credentials(
    store: &Store,
    back: &mpsc::UnboundedSender<Back>,
    job: JobId,
    account: String,
    algorithm: parley_core::sip::digest::Algorithm,
) {
    let (store, back) = (store.clone(), back.clone());
    tokio::spawn(async move {
        let ha1 = store.ha1(&account, algorithm).await.unwrap_or_else(|e| {
            warn!(error = %e, "account lookup failed");
            None
        });
        let _ = back.send(Back::Credentials(job, ha1));
    });
}

/// Look up accounts in a task of its own.
pub(super) fn accounts(
    store: &Store,
    back: &mpsc::UnboundedSender<Back>,
    job: JobId,
    names: Vec<String>,
) {
    let (store, back) = (store.clone(), back.clone());
    tokio::spawn(async move {
        // The first name is the one the call needs (its failure fails the lookup); the others are
        // extras (the caller's display name), unknown when they cannot be read.
        let mut found = Vec::with_capacity(names.len());
        let mut result = Ok(());
        for (i, n) in names.iter().enumerate() {
            if i > 0 {
                found.push(name_only(&store, n).await);
                continue;
            }
            match account(&store, n).await {
                Ok(a) => found.push(a),
                Err(()) => result = Err(()),
            }
        }
        let _ = back.send(Back::Accounts(job, result.map(|()| found)));
    });
}

/// Count a mailbox's messages in a task of its own.
pub(super) fn count(
    store: &Store,
    back: &mpsc::UnboundedSender<Back>,
    mailbox: String,
    why: CountFor,
) {
    let (store, back) = (store.clone(), back.clone());
    tokio::spawn(async move {
        let c = counts(&store, &mailbox).await;
        let _ = back.send(Back::Counts(mailbox, why, c));
    });
}
