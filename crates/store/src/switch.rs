//! The store's side of the switch (`parley_core::switch`): answers to its lookups (accounts, mailbox
//! views, counts, PIN checks) and the persistence of what its calls do (a recording in progress, kept
//! or thrown away; PIN and temporary-greeting changes by phone; call records; recordings a crash cut
//! short, recovered at start). The SIP shell calls these off its signalling task and feeds the
//! answers back to the switch; nothing here decides what a call does.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use parley_core::extension::Extension;
use parley_core::switch::{Account, CallSummary, PinCheck};
use parley_core::vm::pin::Pin;
use parley_core::vm::{
    Folder, GreetingKind, Greetings, LocalTime, MailboxView, MessageInfo, RecordingFor,
};
use parley_media::wav::{WavError, WavPlayer};
use tracing::{info, warn};

use crate::audio::{AudioKey, AudioPlace, AudioStream, Tailer, CHUNK_SAMPLES};
use crate::voicemail::Unfinished;
use crate::{Backend, CallRecord, Counts, MailboxSettings, Store, StoreError, UserChanges};

/// How often a node touches the messages it is recording ([`Store::tend_recordings`]).
pub const TEND_EVERY: Duration = Duration::from_secs(10);

/// A recording untouched for this long (seconds) is taken for one whose node stopped.
const STALE_SECS: i64 = 60;

/// A recording whose node is silent this long (seconds) is finished by another node from its chunks
/// alone, when audio is in the database and its local file is out of reach.
const CHUNKS_STALE_SECS: i64 = 600;

/// How long the start of a recording waits for the database before it records into the spool.
const ROW_WAIT: Duration = Duration::from_millis(800);

/// A recording in progress: a message's row, or a spooled recording's file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum LiveKey {
    Message(i64),
    Spool(PathBuf),
}

/// The recordings this process is making.
pub(crate) type Live = Arc<Mutex<HashSet<LiveKey>>>;

/// A recording in [`Live`] for as long as its take exists (however the take ends).
#[derive(Debug)]
struct LiveEntry {
    key: LiveKey,
    live: Live,
}

impl LiveEntry {
    fn new(key: LiveKey, live: &Live) -> LiveEntry {
        live.lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone());
        LiveEntry {
            key,
            live: live.clone(),
        }
    }
}

impl Drop for LiveEntry {
    fn drop(&mut self) {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}

/// A recording a voicemail call is making or has made, until it is kept or thrown away: a message
/// (its row exists, not yet visible) or a greeting (written beside the one it replaces).
#[derive(Debug)]
pub struct Take {
    path: PathBuf,
    of: TakeOf,
}

#[derive(Debug)]
enum TakeOf {
    Message {
        id: i64,
        mailbox: String,
        _live: LiveEntry,
        /// With audio in the database: the task copying it there as it is recorded.
        tailer: Option<Tailer>,
    },
    /// Recorded while the database was away (see `spool`): the JSON file naming it.
    Spooled { meta: PathBuf, _live: LiveEntry },
    Greeting {
        mailbox: String,
        kind: GreetingKind,
        installed: PathBuf,
    },
}

impl Take {
    /// The file the recording goes to.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Store {
    /// An account as the switch needs it (`None`: no such extension; an error: the store cannot say).
    pub async fn switch_account(&self, name: &str) -> Result<Option<Account>, StoreError> {
        if !Extension::is_valid(name) {
            return Ok(None);
        }
        let Some(user) = self.get_user(name).await? else {
            return Ok(None);
        };
        let settings = self.mailbox_settings(name).await.unwrap_or_default();
        let (dial_class, outside_number) = self
            .dialing(name)
            .await?
            .unwrap_or((parley_core::trunk::dialplan::DialClass::Internal, None));
        Ok(Some(Account {
            name: user.name,
            always_prompt: settings.always_prompt,
            mark_read: settings.mark_read,
            greetings: self.greetings(name, &settings).await,
            dial_class,
            outside_number,
            routing: self.routing(name).await?,
            follow_me_pin: user.privileges.contains(&crate::Privilege::FollowMePin),
        }))
    }

    /// Whether `name` is a mailbox (an account's extension); a store that cannot say answers no.
    pub async fn mailbox_exists(&self, name: &str) -> bool {
        Extension::is_valid(name) && matches!(self.get_user(name).await, Ok(Some(_)))
    }

    /// The accounts a switch lookup names: the first is the one the call needs (its failure fails the
    /// lookup); the others are extras wanted for their display name only (unknown when unreadable).
    pub async fn switch_accounts(
        &self,
        names: &[String],
    ) -> Result<Vec<Option<Account>>, StoreError> {
        let mut found = Vec::with_capacity(names.len());
        for (i, n) in names.iter().enumerate() {
            if i == 0 {
                found.push(self.switch_account(n).await?);
                continue;
            }
            let user = self.get_user(n).await.ok().flatten();
            found.push(user.map(|u| Account {
                name: u.name,
                always_prompt: true,
                mark_read: false,
                greetings: Greetings::default(),
                dial_class: parley_core::trunk::dialplan::DialClass::Internal,
                outside_number: None,
                routing: Default::default(),
                follow_me_pin: false,
            }));
        }
        Ok(found)
    }

    /// The greetings callers of `mailbox` hear, from those recorded and its settings.
    async fn greetings(&self, mailbox: &str, settings: &MailboxSettings) -> Greetings {
        let recorded = self.recorded_greetings(mailbox).await;
        Greetings::resolve(
            |k: GreetingKind| recorded.contains(&k),
            settings.temp_active,
            settings.announcement,
            settings.recording,
        )
    }

    /// What the menus need of a mailbox after login (`None`: no such mailbox, or unreadable).
    pub async fn mailbox_view(&self, mailbox: &str) -> Option<MailboxView> {
        let user = self.get_user(mailbox).await.ok().flatten()?;
        let settings = self.mailbox_settings(mailbox).await.unwrap_or_default();
        let messages = self
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
            greetings: self.greetings(mailbox, &settings).await,
            messages,
            pin_is_default: self.pin_is_default(mailbox).await.unwrap_or(false),
        })
    }

    /// A mailbox's counts, zero when the store cannot say.
    pub async fn counts_or_zero(&self, mailbox: &str) -> Counts {
        self.message_counts(mailbox).await.unwrap_or_default()
    }

    /// Check digits entered by phone against a mailbox's PIN (argon2, off the runtime's threads); a
    /// store that cannot say answers "differs".
    pub async fn check_pin(&self, mailbox: &str, pin: Pin) -> PinCheck {
        match self.pin_hash(mailbox).await {
            Ok(None) => PinCheck::NotSet,
            Ok(Some(hash)) => {
                let ok =
                    tokio::task::spawn_blocking(move || crate::verify_secret(pin.expose(), &hash))
                        .await
                        .unwrap_or(false);
                if ok {
                    PinCheck::Matches
                } else {
                    PinCheck::Differs
                }
            }
            Err(_) => PinCheck::Differs,
        }
    }

    /// Store a PIN changed by phone (the store's own rules apply; a refusal is logged).
    pub async fn set_pin_by_phone(&self, mailbox: &str, pin: Pin) {
        let changes = UserChanges {
            pin: Some(pin.expose().to_string()),
            ..Default::default()
        };
        match self.update_user(mailbox, &changes).await {
            Ok(()) => info!(mailbox = %mailbox, "PIN changed by phone"),
            Err(err) => warn!(mailbox = %mailbox, error = %err, "PIN change refused"),
        }
    }

    /// Turn a mailbox's temporary greeting on or off.
    pub async fn set_temporary(&self, mailbox: &str, active: bool) -> Result<(), StoreError> {
        let mut s = self.mailbox_settings(mailbox).await?;
        s.temp_active = active;
        self.set_mailbox_settings(mailbox, s).await
    }

    /// Prepare where a recording goes: a message's row (invisible until kept) and file, or a greeting
    /// written beside the one it will replace. `now` is Unix seconds.
    pub async fn start_take(&self, purpose: RecordingFor, now: i64) -> Result<Take, StoreError> {
        let take = match purpose {
            RecordingFor::Message { mailbox, caller } => {
                // The directory first, so that no message row is left without a place for its audio.
                tokio::fs::create_dir_all(self.mailbox_dir(&mailbox)).await?;
                let row = tokio::time::timeout(ROW_WAIT, async {
                    let name = match caller.as_deref() {
                        Some(c) => self.get_user(c).await?.map(|u| u.name),
                        None => None,
                    };
                    let id = self
                        .start_message(&mailbox, caller.as_deref(), name.as_deref(), now)
                        .await?;
                    Ok::<_, StoreError>((id, name))
                })
                .await;
                match row {
                    Ok(Ok((id, _))) => {
                        info!(message = id, mailbox = %parley_core::text::Printable(&mailbox), "recording message");
                        let path = self.message_path(&mailbox, id);
                        Take {
                            of: TakeOf::Message {
                                id,
                                _live: LiveEntry::new(LiveKey::Message(id), &self.live),
                                tailer: self
                                    .tail_recording(&AudioKey::message(&mailbox, id), &path),
                                mailbox,
                            },
                            path,
                        }
                    }
                    Ok(Err(e)) if !e.is_unavailable() => return Err(e),
                    away => {
                        // The caller is recorded all the same; the row follows when the database
                        // is back.
                        let reason = match away {
                            Ok(Err(e)) => e.to_string(),
                            _ => format!("no answer within {} ms", ROW_WAIT.as_millis()),
                        };
                        // Marked live before its file exists, so that this node never adopts it
                        // while it is being recorded.
                        let meta = self.new_spool_path(now);
                        let live = LiveEntry::new(LiveKey::Spool(meta.clone()), &self.live);
                        self.spool_take(&meta, &mailbox, caller.as_deref(), None, now)
                            .await?;
                        warn!(mailbox = %parley_core::text::Printable(&mailbox), reason = %reason, spooled = %meta.display(), "the database is away: recording into the spool");
                        Take {
                            path: crate::spool::spool_audio(&meta),
                            of: TakeOf::Spooled { _live: live, meta },
                        }
                    }
                }
            }
            RecordingFor::Greeting { mailbox, kind } => {
                let installed = self.greeting_path(&mailbox, kind.as_str());
                if let Some(dir) = installed.parent() {
                    tokio::fs::create_dir_all(dir).await?;
                }
                info!(mailbox = %mailbox, greeting = kind.as_str(), "recording greeting");
                Take {
                    path: installed.with_file_name(format!(".{}.recording.wav", kind.as_str())),
                    of: TakeOf::Greeting {
                        mailbox,
                        kind,
                        installed,
                    },
                }
            }
        };
        Ok(take)
    }

    /// Keep a take: a message becomes visible in `folder`, `duration_ms` long (its notifications
    /// queued); a greeting replaces the one in use.
    pub async fn keep_take(
        &self,
        take: Take,
        duration_ms: u64,
        folder: Folder,
    ) -> Result<(), StoreError> {
        match take.of {
            TakeOf::Message {
                id,
                mailbox,
                tailer,
                ..
            } => {
                let tailed = match tailer {
                    Some(t) => t.stop().await,
                    None => 0,
                };
                // Into the database first (when audio is kept there), then visible: a failure
                // leaves the row and the file a recovery finishes from.
                self.settle_recording(&AudioKey::message(&mailbox, id), &take.path, tailed)
                    .await?;
                self.finish_message(id, duration_ms as i64, folder.as_str())
                    .await?;
                info!(message = id, mailbox = %mailbox, ms = duration_ms, "message saved");
            }
            TakeOf::Spooled { meta, .. } => {
                self.keep_spooled(&meta, duration_ms, folder).await?;
            }
            TakeOf::Greeting {
                mailbox,
                kind,
                installed,
            } => {
                match self.audio_place() {
                    AudioPlace::Files => tokio::fs::rename(&take.path, &installed).await?,
                    AudioPlace::Database => {
                        let wav = tokio::fs::read(&take.path).await?;
                        // The take stays on disk unless the database has it.
                        self.put_audio(&AudioKey::greeting(&mailbox, kind), &wav)
                            .await?;
                        let _ = tokio::fs::remove_file(&take.path).await;
                    }
                }
                info!(mailbox = %mailbox, greeting = kind.as_str(), "greeting saved");
            }
        }
        Ok(())
    }

    /// Throw a take away (a message too short, or recorded again).
    pub async fn discard_take(&self, take: Take) {
        match take.of {
            TakeOf::Message { id, tailer, .. } => {
                info!(message = id, "message discarded (too short or re-recorded)");
                if let Some(t) = tailer {
                    t.stop().await;
                }
                let _ = self.drop_unfinished(id).await;
                let _ = tokio::fs::remove_file(&take.path).await;
            }
            TakeOf::Spooled { meta, .. } => self.discard_spooled(&meta).await,
            TakeOf::Greeting { .. } => {
                let _ = tokio::fs::remove_file(&take.path).await;
            }
        }
    }

    /// A greeting, opened to be played (`None`: none recorded, or unreadable).
    pub async fn greeting_audio(&self, mailbox: &str, kind: GreetingKind) -> Option<AudioStream> {
        self.open_audio(&AudioKey::greeting(mailbox, kind)).await
    }

    /// A stored message, opened to be played.
    pub async fn message_audio(&self, id: i64) -> Option<AudioStream> {
        let m = self.get_message(id).await.ok().flatten()?;
        self.open_audio(&AudioKey::message(&m.mailbox, m.id)).await
    }

    /// Write the record of a call that started at `started` (Unix seconds); a failure is logged.
    pub async fn record_call(&self, s: CallSummary, started: i64) {
        let r = CallRecord {
            id: 0,
            started_at: started,
            caller: s.caller,
            caller_name: s.caller_name,
            callee: s.callee,
            outcome: s.outcome,
            talk_ms: s.talk.as_millis() as i64,
            total_ms: s.total.as_millis() as i64,
            direction: s.direction,
            trunk: s.trunk,
            routed_by: s.routed_by,
            answered_by: s.answered_by,
        };
        if let Err(e) = self.add_call_record(&r).await {
            warn!(error = %e, "call record not written");
        }
    }

    /// Messages whose recording a stop of Parley cut short: their WAV headers are fixed and they are
    /// made visible (in the folder a new message of their mailbox goes to), or dropped when shorter
    /// than `min_message` or unreadable. Run before the server takes calls. On SQLite (one node) every
    /// unfinished recording is one this node's stop cut short; on a database that several nodes
    /// share, those of this node's name are, and those no node has touched for a minute; a
    /// recording whose audio this node cannot see (another node's, on its own disk) is left for that
    /// node.
    pub async fn recover_recordings(&self, min_message: Duration) {
        let which = match self.backend {
            Backend::Sqlite => Unfinished::All,
            Backend::Postgres => Unfinished::OwnAndStale,
        };
        self.recover(min_message, which).await;
    }

    async fn recover(&self, min_message: Duration, which: Unfinished) {
        let shared = self.backend != Backend::Sqlite;
        let Ok(list) = self.unfinished_messages(which, STALE_SECS).await else {
            return;
        };
        let min_ms = min_message.as_millis() as u64;
        for (id, mailbox, node, idle) in list {
            if self.is_live(&LiveKey::Message(id)) {
                continue;
            }
            let path = self.message_path(&mailbox, id);
            let key = AudioKey::message(&mailbox, id);
            let own = node.as_deref() == Some(self.node());
            let local = tokio::fs::try_exists(&path).await.unwrap_or(false);
            let in_db = self.audio_place() == AudioPlace::Database;
            if shared && !own && !local && (!in_db || idle < CHUNKS_STALE_SECS) {
                // Another node's, whose file may hold more than its chunks (a database outage
                // stopped its tailer): that node finishes it, unless it stays silent for long.
                continue;
            }
            let samples = if in_db {
                // The chunks are durable (committed); the local file, never synced while
                // recording, may hold more of it or, after a power loss, less.
                let stored = match self.stored_chunks(&key).await {
                    Ok(c) => c,
                    Err(e) => {
                        warn!(message = id, error = %e, "a recording cut short is not stored yet");
                        continue;
                    }
                };
                let from_file = if local {
                    fix_wav_header(path.clone())
                        .await
                        .ok()
                        .filter(|n| *n >= stored * CHUNK_SAMPLES)
                } else {
                    None
                };
                let settled = match from_file {
                    Some(_) => self.settle_recording(&key, &path, stored).await.map(Some),
                    None => {
                        let _ = tokio::fs::remove_file(&path).await;
                        self.settle_chunks(&key).await
                    }
                };
                match settled {
                    Ok(Some(n)) => Ok(n),
                    Ok(None) => Err("no audio".to_string()),
                    Err(e) => {
                        warn!(message = id, error = %e, "a recording cut short is not stored yet");
                        continue;
                    }
                }
            } else if local {
                match fix_wav_header(path.clone()).await {
                    Ok(n) => Ok(n),
                    Err(WavError::Io(e)) => {
                        warn!(message = id, error = %e, "a recording cut short is not readable yet");
                        continue;
                    }
                    Err(e) => Err(e.to_string()),
                }
            } else {
                Err("no audio".to_string())
            };
            match samples {
                Ok(n) if n / 8 >= min_ms => {
                    let mark_read = self
                        .mailbox_settings(&mailbox)
                        .await
                        .is_ok_and(|s| s.mark_read);
                    let folder = Folder::for_new_message(mark_read);
                    let _ = self
                        .finish_message(id, (n / 8) as i64, folder.as_str())
                        .await;
                    info!(message = id, mailbox = %mailbox, ms = n / 8, "recovered a message cut short by a stop of Parley");
                }
                other => {
                    info!(message = id, mailbox = %mailbox, result = ?other.map(|n| n / 8), "dropped an unfinished recording (too short or unreadable)");
                    let _ = self.drop_unfinished(id).await;
                }
            }
        }
        self.adopt_spooled(min_message).await;
    }
}

impl Store {
    fn is_live(&self, key: &LiveKey) -> bool {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(key)
    }

    /// Whether a spooled recording is being made by this process.
    pub(crate) fn is_live_spool(&self, meta: &Path) -> bool {
        self.is_live(&LiveKey::Spool(meta.to_path_buf()))
    }

    /// Run every [`TEND_EVERY`] while serving: touch the messages this node is recording, and, on a
    /// database shared by several nodes, recover those whose node stopped touching them.
    pub async fn tend_recordings(&self, min_message: Duration) {
        let ids: Vec<i64> = self
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(|k| match k {
                LiveKey::Message(id) => Some(*id),
                LiveKey::Spool(_) => None,
            })
            .collect();
        let touch = format!(
            "UPDATE messages SET touched_at = {} WHERE id = $1 AND state = 'recording'",
            self.backend.now_secs()
        );
        for id in ids {
            let touched = sqlx::query(&touch).bind(id).execute(&self.pool).await;
            if let Err(e) = touched {
                warn!(message = id, error = %e, "recording not touched");
            }
        }
        if self.backend != Backend::Sqlite {
            self.recover(min_message, Unfinished::Stale).await;
        } else {
            self.adopt_spooled(min_message).await;
        }
    }
}

/// Fix the header of a WAV file a stop cut short (off the runtime's threads): its samples.
pub(crate) async fn fix_wav_header(path: PathBuf) -> Result<u64, WavError> {
    tokio::task::spawn_blocking(move || {
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)?;
        let n = parley_media::wav::recover(&mut f)?;
        f.sync_all()?;
        Ok::<u64, WavError>(n)
    })
    .await
    .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string()).into()))
}

/// Read a WAV file (a greeting, a message, a take) as samples, off the runtime's threads; `None` if
/// absent or unreadable.
pub(crate) async fn read_audio(path: PathBuf) -> Option<Arc<[i16]>> {
    tokio::task::spawn_blocking(move || read_wav(&path))
        .await
        .ok()
        .flatten()
}

/// Read a WAV file as samples (blocking); `None` if absent or unreadable (logged).
fn read_wav(path: &Path) -> Option<Arc<[i16]>> {
    let bytes = std::fs::read(path).ok()?;
    match WavPlayer::from_wav_bytes(&bytes) {
        Ok(p) => Some(Arc::from(p.samples())),
        Err(e) => {
            warn!(path = %path.display(), error = %e, "audio file unreadable");
            None
        }
    }
}

fn local_time(unix: i64) -> LocalTime {
    use chrono::{Datelike, TimeZone, Timelike};
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A take with `secs` of audio written and its header left at zero, as a crash leaves it.
    async fn cut_short(s: &Store, secs: usize) -> Take {
        let purpose = RecordingFor::Message {
            mailbox: "101".into(),
            caller: None,
        };
        let take = s.start_take(purpose, crate::unix_now()).await.unwrap();
        let f = std::fs::File::create(take.path()).unwrap();
        let mut rec = parley_media::wav::WavRecorder::new(f).unwrap();
        rec.push(&vec![1000i16; 8000 * secs]).unwrap();
        drop(rec);
        take
    }

    async fn unfinished(s: &Store) -> usize {
        s.unfinished_messages(Unfinished::All, STALE_SECS)
            .await
            .unwrap()
            .len()
    }

    #[tokio::test]
    async fn a_recording_is_recovered_only_once_its_recorder_stopped_tending_it() {
        let (s, dir) = crate::test_store(None).await;
        let min = Duration::from_secs(1);
        let take = cut_short(&s, 2).await;
        // Its own node never takes a recording in progress for a crashed one.
        s.recover_recordings(min).await;
        assert_eq!(unfinished(&s).await, 1);
        if s.backend() != Backend::Sqlite {
            // Another node on the same database leaves it while it is tended, even when it began
            // long ago ...
            let other = Store::connect(s.location(), dir.path())
                .await
                .unwrap()
                .with_node("other");
            sqlx::query("UPDATE messages SET touched_at = 0")
                .execute(&s.pool)
                .await
                .unwrap();
            s.tend_recordings(min).await;
            other.recover_recordings(min).await;
            assert_eq!(unfinished(&s).await, 1);
            // ... and recovers it once its node has stopped (no touch for a minute).
            drop(take);
            sqlx::query("UPDATE messages SET touched_at = 0")
                .execute(&s.pool)
                .await
                .unwrap();
            other.tend_recordings(min).await;
        } else {
            // One node: a take that ended without being kept is recovered at the next start.
            drop(take);
            s.recover_recordings(min).await;
        }
        assert_eq!(unfinished(&s).await, 0);
        let list = s.list_messages("101").await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].duration_ms, 2000);
    }

    #[tokio::test]
    async fn a_node_that_dies_mid_recording_loses_at_most_the_last_second_of_it() {
        // Audio in the database; the node recording dies with its disk (another machine).
        let (s, _d) = crate::test_store(None).await;
        let s = s.with_audio(AudioPlace::Database).with_node("a");
        let purpose = RecordingFor::Message {
            mailbox: "101".into(),
            caller: Some("100".into()),
        };
        let take = s.start_take(purpose, crate::unix_now()).await.unwrap();
        let f = std::fs::File::create(take.path()).unwrap();
        let mut rec = parley_media::wav::WavRecorder::new(f).unwrap();
        rec.push(&vec![1200i16; 8000 * 3 + 4000]).unwrap();
        crate::audio::wait_for_chunks(&s, "message/101/%", 3).await;
        std::fs::remove_dir_all(s.data_dir().join("voicemail")).unwrap();
        drop((rec, take));
        sqlx::query("UPDATE messages SET touched_at = 0")
            .execute(&s.pool)
            .await
            .unwrap();
        // Another node, with a data directory of its own, recovers it from the database.
        let elsewhere = tempfile::tempdir().unwrap();
        let b = Store::connect(s.location(), elsewhere.path())
            .await
            .unwrap()
            .with_audio(AudioPlace::Database)
            .with_node("b");
        b.recover_recordings(Duration::from_secs(1)).await;
        let list = b.list_messages("101").await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(
            list[0].duration_ms, 3000,
            "3.5 s recorded, the last half second lost"
        );
        let audio = b
            .audio_samples(&AudioKey::message("101", list[0].id))
            .await
            .unwrap();
        assert_eq!((audio.len(), audio[23999]), (24000, 1200));
    }

    #[tokio::test]
    async fn a_local_file_shorter_than_the_chunks_after_a_power_loss_never_shortens_the_message() {
        let (s, _d) = crate::test_store(None).await;
        let s = s.with_audio(AudioPlace::Database);
        let purpose = RecordingFor::Message {
            mailbox: "101".into(),
            caller: None,
        };
        let take = s.start_take(purpose, crate::unix_now()).await.unwrap();
        let path = take.path().to_path_buf();
        let mut rec =
            parley_media::wav::WavRecorder::new(std::fs::File::create(&path).unwrap()).unwrap();
        rec.push(&vec![900i16; 8000 * 3]).unwrap();
        crate::audio::wait_for_chunks(&s, "message/101/%", 3).await;
        drop((rec, take));
        // The file was never synced: after the power came back it holds one second.
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(44 + 8000 * 2).unwrap();
        drop(f);
        s.recover_recordings(Duration::from_secs(1)).await;
        let list = s.list_messages("101").await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].duration_ms, 3000);
        assert!(!path.exists());
    }
}
