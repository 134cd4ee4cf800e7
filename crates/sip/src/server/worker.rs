//! The IO of one voicemail call, carried out in order by a task of its own: it owns the call's media end
//! and the recording file in progress, reads prompts, greetings and messages, and writes the store, so
//! that the signalling task never waits for the disk or the database. Every answer goes back to the
//! switch as a [`VmInput`]; nothing here decides what the call does.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use parley_core::switch::{CallId, CountFor, PinCheck, VmInput, VmIo};
use parley_core::text::Printable;
use parley_core::vm::{Audio, GreetingKind, RecordingFor};
use parley_store::Store;
use tokio::sync::mpsc;
use tracing::{info, warn, Instrument};

use super::{lookup, unix_now, Back};
use crate::media::{Clip, Media, RecordSpec};
use crate::prompts::{read_wav, Prompts};

/// The recording a call is making or has made, until it is kept or discarded.
#[derive(Debug)]
enum Take {
    Message {
        id: i64,
        mailbox: String,
    },
    Greeting {
        mailbox: String,
        kind: GreetingKind,
        tmp: PathBuf,
    },
}

struct Worker {
    id: CallId,
    media: Media,
    store: Store,
    prompts: Arc<Mutex<Prompts>>,
    back: mpsc::UnboundedSender<Back>,
    take: Option<Take>,
}

/// Start the worker of voicemail call `id`; send it [`VmIo`] in order (it ends after `Finish`).
pub(super) fn start(
    id: CallId,
    media: Media,
    store: Store,
    prompts: Arc<Mutex<Prompts>>,
    back: mpsc::UnboundedSender<Back>,
    span: tracing::Span,
) -> mpsc::UnboundedSender<VmIo> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut w = Worker {
        id,
        media,
        store,
        prompts,
        back,
        take: None,
    };
    tokio::spawn(
        async move {
            while let Some(io) = rx.recv().await {
                if io == VmIo::Finish {
                    break;
                }
                let fallback = fallback(&io);
                let fault = super::contain::contained(w.carry_out(io)).await;
                if let Some(fault) = fault {
                    warn!(fault = %fault, "voicemail IO faulted; the call goes on");
                    // Whatever waits for an answer gets one: a PIN check ends as a wrong PIN, so
                    // that its reservation in the lockout is released.
                    if let Some(input) = fallback {
                        w.answer(input);
                    }
                }
            }
            let _ = w.media.close().await;
        }
        .instrument(span),
    );
    tx
}

/// The answer an IO owes the switch, should carrying it out fault.
fn fallback(io: &VmIo) -> Option<VmInput> {
    match io {
        VmIo::Record { .. } => Some(VmInput::RecordFailed),
        VmIo::MailboxExists(n) => Some(VmInput::MailboxExists(n.clone(), false)),
        VmIo::VerifyPin { .. } => Some(VmInput::PinChecked(PinCheck::Differs)),
        VmIo::LoadMailbox(_) => Some(VmInput::Mailbox(None)),
        VmIo::Close => Some(VmInput::Closed(None)),
        _ => None,
    }
}

impl Worker {
    fn answer(&self, input: VmInput) {
        let _ = self.back.send(Back::Vm(self.id, input));
    }

    async fn carry_out(&mut self, io: VmIo) {
        match io {
            VmIo::Remote {
                remote,
                signalling,
                audio_pt,
                event_pt,
            } => self
                .media
                .set_remote(remote, signalling, audio_pt, event_pt),
            VmIo::Play { generation, audio } => {
                let clips = self.clips(audio).await;
                self.media.play(generation, clips);
            }
            VmIo::StopPlay => self.media.stop_play(),
            VmIo::Seek(ms) => self.media.seek(ms),
            VmIo::Record {
                purpose,
                max,
                silence,
            } => match self.start_take(purpose).await {
                Some(path) => self.media.record(RecordSpec { path, max, silence }),
                None => self.answer(VmInput::RecordFailed),
            },
            VmIo::StopRecord => self.media.stop_record(),
            VmIo::KeepMessage {
                duration_ms,
                folder,
            } => {
                if let Some(Take::Message { id, mailbox }) = self.take.take() {
                    match self
                        .store
                        .finish_message(id, duration_ms as i64, folder.as_str())
                        .await
                    {
                        Ok(()) => {
                            info!(message = id, mailbox = %mailbox, ms = duration_ms, "message saved")
                        }
                        Err(err) => warn!(error = %err, message = id, "cannot save message"),
                    }
                }
            }
            VmIo::KeepGreeting => {
                if let Some(Take::Greeting { mailbox, kind, tmp }) = self.take.take() {
                    let fin = self.store.greeting_path(&mailbox, kind.as_str());
                    match tokio::fs::rename(&tmp, &fin).await {
                        Ok(()) => {
                            info!(mailbox = %mailbox, greeting = kind.as_str(), "greeting saved")
                        }
                        Err(err) => warn!(error = %err, "cannot install greeting"),
                    }
                }
            }
            VmIo::DiscardTake => match self.take.take() {
                Some(Take::Message { id, .. }) => {
                    info!(message = id, "message discarded (too short or re-recorded)");
                    let _ = self.store.delete_message(id).await;
                }
                Some(Take::Greeting { tmp, .. }) => {
                    let _ = tokio::fs::remove_file(tmp).await;
                }
                None => {}
            },
            VmIo::MailboxExists(n) => {
                let exists = matches!(lookup::account(&self.store, &n).await, Ok(Some(_)));
                self.answer(VmInput::MailboxExists(n, exists));
            }
            VmIo::VerifyPin { mailbox, pin } => {
                let check = match self.store.pin_hash(&mailbox).await {
                    Ok(None) => PinCheck::NotSet,
                    Ok(Some(hash)) => {
                        // argon2 is slow on purpose: off the runtime's worker threads.
                        let ok = tokio::task::spawn_blocking(move || {
                            parley_store::verify_secret(&pin, &hash)
                        })
                        .await
                        .unwrap_or(false);
                        if ok {
                            PinCheck::Matches
                        } else {
                            PinCheck::Differs
                        }
                    }
                    Err(_) => PinCheck::Differs,
                };
                self.answer(VmInput::PinChecked(check));
            }
            VmIo::LoadMailbox(m) => {
                let view = lookup::mailbox_view(&self.store, &m).await.map(Box::new);
                self.answer(VmInput::Mailbox(view));
            }
            VmIo::MoveMessage { id, folder } => {
                if let Err(err) = self.store.move_message(id, folder.as_str()).await {
                    warn!(error = %err, "cannot move message");
                }
            }
            VmIo::DeleteMessage(id) => {
                if let Err(err) = self.store.delete_message(id).await {
                    warn!(error = %err, "cannot delete message");
                }
            }
            VmIo::SetTemporary { mailbox, active } => {
                if let Ok(mut s) = self.store.mailbox_settings(&mailbox).await {
                    s.temp_active = active;
                    let _ = self.store.set_mailbox_settings(&mailbox, s).await;
                }
            }
            VmIo::SetPin { mailbox, pin } => {
                let changes = parley_store::UserChanges {
                    pin: Some(pin),
                    ..Default::default()
                };
                match self.store.update_user(&mailbox, &changes).await {
                    Ok(()) => info!(mailbox = %mailbox, "PIN changed by phone"),
                    Err(err) => warn!(mailbox = %mailbox, error = %err, "PIN change refused"),
                }
            }
            VmIo::CountMessages(m) => {
                let c = lookup::counts(&self.store, &m).await;
                let _ = self.back.send(Back::Counts(m, CountFor::Changed, c));
            }
            VmIo::Close => {
                let cut = self.media.close().await;
                self.answer(VmInput::Closed(cut));
            }
            VmIo::Finish => {}
        }
    }

    /// Read what a playlist names (a missing file plays as nothing).
    async fn clips(&mut self, audio: Vec<Audio>) -> Vec<Clip> {
        let mut clips = Vec::with_capacity(audio.len());
        for a in audio {
            let (path, seekable) = match a {
                Audio::Prompt(p) => {
                    let samples = self.prompts.lock().map(|mut p2| p2.get(&p));
                    if let Ok(samples) = samples {
                        clips.push(Clip {
                            samples,
                            seekable: false,
                        });
                    }
                    continue;
                }
                Audio::Greeting { mailbox, kind } => (
                    Some(self.store.greeting_path(&mailbox, kind.as_str())),
                    false,
                ),
                Audio::Message(mid) => {
                    let path = match self.store.get_message(mid).await {
                        Ok(Some(m)) => Some(self.store.message_path(&m.mailbox, m.id)),
                        _ => None,
                    };
                    (path, true)
                }
                Audio::Take => {
                    let path = match &self.take {
                        Some(Take::Message { id, mailbox }) => {
                            Some(self.store.message_path(mailbox, *id))
                        }
                        Some(Take::Greeting { tmp, .. }) => Some(tmp.clone()),
                        None => None,
                    };
                    (path, true)
                }
            };
            let samples = match path {
                Some(p) => tokio::task::spawn_blocking(move || read_wav(&p))
                    .await
                    .ok()
                    .flatten(),
                None => None,
            };
            clips.push(Clip {
                samples: samples.unwrap_or_else(|| Arc::from(Vec::new())),
                seekable,
            });
        }
        clips
    }

    /// Prepare the file a recording goes to (a message row for a message).
    async fn start_take(&mut self, purpose: RecordingFor) -> Option<PathBuf> {
        let (take, path) = match purpose {
            RecordingFor::Message { mailbox, caller } => {
                let name = match caller.as_deref() {
                    Some(c) => self.store.get_user(c).await.ok().flatten().map(|u| u.name),
                    None => None,
                };
                let mid = match self
                    .store
                    .start_message(
                        &mailbox,
                        caller.as_deref(),
                        name.as_deref(),
                        unix_now() as i64,
                    )
                    .await
                {
                    Ok(mid) => mid,
                    Err(err) => {
                        warn!(error = %err, "cannot create message");
                        return None;
                    }
                };
                let path = self.store.message_path(&mailbox, mid);
                info!(message = mid, mailbox = %Printable(&mailbox), "recording message");
                (Take::Message { id: mid, mailbox }, path)
            }
            RecordingFor::Greeting { mailbox, kind } => {
                let fin = self.store.greeting_path(&mailbox, kind.as_str());
                let tmp = fin.with_file_name(format!(".{}.recording.wav", kind.as_str()));
                info!(mailbox = %mailbox, greeting = kind.as_str(), "recording greeting");
                let path = tmp.clone();
                (Take::Greeting { mailbox, kind, tmp }, path)
            }
        };
        if let Some(dir) = path.parent() {
            if let Err(err) = tokio::fs::create_dir_all(dir).await {
                warn!(error = %err, dir = %dir.display(), "cannot create voicemail directory");
            }
        }
        self.take = Some(take);
        Some(path)
    }
}
