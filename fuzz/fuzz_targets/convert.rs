//! Any bytes as an uploaded greeting: the converter refuses or converts without panicking, within its
//! bounds, and what it accepts plays as a telephone WAV of the length it reports.
//!
//! The decoders are a third-party crate (symphonia) that the converter runs inside `catch_unwind`: a
//! panic there is by design an "unreadable file". libFuzzer's panic hook would abort on it, so panics
//! located in symphonia are let through to that `catch_unwind`; every other panic still aborts.
#![no_main]
use libfuzzer_sys::fuzz_target;
use parley_media::convert::to_telephone;
use parley_media::wav::WavPlayer;

fn contain_decoder_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let fuzzer = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info
                .location()
                .is_some_and(|l| l.file().contains("/symphonia"))
            {
                fuzzer(info);
            }
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    contain_decoder_panics();
    if let Ok(c) = to_telephone(data, 5_000) {
        let p = WavPlayer::from_wav_bytes(&c.wav).expect("accepted but unplayable");
        assert_eq!(p.duration_ms(), c.duration_ms);
        assert!(c.duration_ms <= 5_000);
    }
});
