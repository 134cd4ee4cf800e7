//! Any bytes as a WAV file (greetings, prompts, messages read back): the header parse, the player and
//! the recovery of a cut recording never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use parley_media::wav::{recover, WavLayout, WavPlayer};

fuzz_target!(|data: &[u8]| {
    let _ = WavLayout::parse(data);
    if let Ok(p) = WavPlayer::from_wav_bytes(data) {
        let _ = (p.duration_ms(), p.samples().len());
    }
    let mut file = std::io::Cursor::new(data.to_vec());
    let _ = recover(&mut file);
});
