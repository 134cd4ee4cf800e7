//! The IO of one voicemail call, carried out in order by a task of its own: it owns the call's media end
//! and the recording file in progress, reads prompts, greetings and messages, and writes the store, so
//! that the signalling task never waits for the disk or the database. Every answer goes back to the
//! switch as a [`VmInput`]; nothing here decides what the call does.

use std::sync::{Arc, Mutex};

use parley_core::switch::{CallId, CountFor, PinCheck, VmInput, VmIo};
use parley_core::vm::{Audio, Folder};
use parley_store::{AudioStream, Store, Take};
use tokio::sync::mpsc;
use tracing::{warn, Instrument};

use super::{unix_now, Back};
use crate::prompts::Prompts;
use parley_rtp::conference::Rooms;
use parley_rtp::media::{Clip, ClipSource, Media, RecordSpec};

struct Worker {
    id: CallId,
    media: Media,
    store: Store,
    prompts: Arc<Mutex<Prompts>>,
    rooms: Rooms,
    back: mpsc::UnboundedSender<Back>,
    take: Option<Take>,
}

/// Start the worker of voicemail call `id`; send it [`VmIo`] in order (it ends after `Finish`).
pub(super) fn start(
    id: CallId,
    media: Media,
    store: Store,
    prompts: Arc<Mutex<Prompts>>,
    rooms: Rooms,
    back: mpsc::UnboundedSender<Back>,
    span: tracing::Span,
) -> mpsc::UnboundedSender<VmIo> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut w = Worker {
        id,
        media,
        store,
        prompts,
        rooms,
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
        VmIo::LoadConference(id) => Some(VmInput::Conference(id.clone(), None, 0)),
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
            } => match self.store.start_take(purpose, unix_now() as i64).await {
                Ok(take) => {
                    let path = take.path().to_path_buf();
                    self.take = Some(take);
                    self.media.record(RecordSpec { path, max, silence });
                }
                Err(err) => {
                    warn!(error = %err, "cannot prepare the recording");
                    self.answer(VmInput::RecordFailed);
                }
            },
            VmIo::StopRecord => self.media.stop_record(),
            VmIo::KeepMessage {
                duration_ms,
                folder,
            } => self.keep(duration_ms, folder).await,
            VmIo::KeepGreeting => self.keep(0, Folder::New).await,
            VmIo::DiscardTake => {
                if let Some(take) = self.take.take() {
                    self.store.discard_take(take).await;
                }
            }
            VmIo::MailboxExists(n) => {
                let exists = self.store.mailbox_exists(&n).await;
                self.answer(VmInput::MailboxExists(n, exists));
            }
            VmIo::VerifyPin { mailbox, pin } => {
                let check = self.store.check_pin(&mailbox, pin).await;
                self.answer(VmInput::PinChecked(check));
            }
            VmIo::LoadMailbox(m) => {
                let view = self.store.mailbox_view(&m).await.map(Box::new);
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
                if let Err(err) = self.store.set_temporary(&mailbox, active).await {
                    warn!(error = %err, "cannot switch the temporary greeting");
                }
            }
            VmIo::SetPin { mailbox, pin } => self.store.set_pin_by_phone(&mailbox, pin).await,
            VmIo::CountMessages(m) => {
                let c = self.store.counts_or_zero(&m).await;
                let _ = self.back.send(Back::Counts(m, CountFor::Changed, c));
            }
            VmIo::LoadConference(id) => {
                let found = match self.store.conference(&id).await {
                    Ok(c) => c.map(Box::new),
                    Err(err) => {
                        warn!(error = %err, "cannot read the conference: taken as no such conference");
                        None
                    }
                };
                self.answer(VmInput::Conference(id, found, unix_now() as i64));
            }
            VmIo::JoinRoom { room, chime } => self.media.join(&self.rooms, room.as_str(), chime),
            VmIo::LeaveRoom { chime } => self.media.leave(chime),
            VmIo::Close => {
                let cut = self.media.close().await;
                self.answer(VmInput::Closed(cut));
            }
            VmIo::Finish => {}
        }
    }

    /// Keep the take, if there is one.
    async fn keep(&mut self, duration_ms: u64, folder: Folder) {
        if let Some(take) = self.take.take() {
            if let Err(err) = self.store.keep_take(take, duration_ms, folder).await {
                warn!(error = %err, "cannot keep the recording");
            }
        }
    }

    /// What a playlist names: prompts whole (they are short and cached), recordings streamed from
    /// the store as they play; what cannot be found plays as nothing.
    async fn clips(&mut self, audio: Vec<Audio>) -> Vec<Clip> {
        let mut clips = Vec::with_capacity(audio.len());
        for a in audio {
            let (stream, seekable) = match a {
                Audio::Prompt(p) => {
                    if let Ok(mut prompts) = self.prompts.lock() {
                        clips.push(Clip::whole(prompts.get(&p), false));
                    }
                    continue;
                }
                Audio::Greeting { mailbox, kind } => {
                    (self.store.greeting_audio(&mailbox, kind).await, false)
                }
                Audio::Message(mid) => (self.store.message_audio(mid).await, true),
                Audio::Take => match &self.take {
                    Some(t) => (AudioStream::file(t.path().to_path_buf()).await, true),
                    None => (None, true),
                },
            };
            clips.push(match stream {
                Some(s) => Clip::streamed(s.len(), seekable, Arc::new(Stored(s))),
                None => Clip::silent(),
            });
        }
        clips
    }
}

/// A recording of the store as the media task reads it.
#[derive(Debug)]
struct Stored(AudioStream);

impl ClipSource for Stored {
    fn read(
        &self,
        from: u64,
        len: u64,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<i16>> + Send>> {
        let stream = self.0.clone();
        Box::pin(async move {
            stream.read(from, len).await.unwrap_or_else(|e| {
                warn!(error = %e, "recording unreadable: played as far as it could be read");
                Vec::new()
            })
        })
    }
}
