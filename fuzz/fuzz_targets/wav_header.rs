//! Any bytes as a WAV file (greetings, prompts, messages read back): the header parse, the head read
//! chunk by chunk from a file (which agrees with it), the player and the recovery of a cut recording
//! never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use parley_media::wav::{recover, WavLayout, WavPlayer};

fuzz_target!(|data: &[u8]| {
    let whole = WavLayout::parse(data);
    // Read from a file chunk by chunk, the head agrees with the parse of the whole bytes.
    let head = WavLayout::read_head(&mut std::io::Cursor::new(data), data.len() as u64);
    if let (Ok(w), Ok(h)) = (&whole, &head) {
        assert_eq!(w, h);
    }
    if let Ok(p) = WavPlayer::from_wav_bytes(data) {
        let _ = (p.duration_ms(), p.samples().len());
    }
    let mut file = std::io::Cursor::new(data.to_vec());
    let _ = recover(&mut file);
});
