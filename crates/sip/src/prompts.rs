//! The prompt set: files named by prompt id (`vm-intro`, `digits/5`) under a configurable directory (an
//! Asterisk-format sound pack works), falling back to the English set embedded in the binary. Decoded
//! once and cached.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use parley_media::wav::WavPlayer;
use tracing::warn;

include!(concat!(env!("OUT_DIR"), "/bundled_prompts.rs"));

/// Decoded prompts.
#[derive(Debug, Default)]
pub struct Prompts {
    dir: Option<PathBuf>,
    cache: HashMap<String, Arc<[i16]>>,
}

impl Prompts {
    /// Prompts from `dir` first (if given), then the bundled set.
    pub fn new(dir: Option<PathBuf>) -> Prompts {
        Prompts {
            dir,
            cache: HashMap::new(),
        }
    }

    /// The samples of a prompt; a missing or unreadable prompt is logged and plays as nothing.
    pub fn get(&mut self, id: &str) -> Arc<[i16]> {
        if let Some(s) = self.cache.get(id) {
            return s.clone();
        }
        let samples = self.load(id).unwrap_or_else(|| {
            warn!(prompt = id, "prompt missing");
            Arc::from(Vec::new())
        });
        self.cache.insert(id.to_string(), samples.clone());
        samples
    }

    fn load(&self, id: &str) -> Option<Arc<[i16]>> {
        if id.contains("..") {
            return None;
        }
        if let Some(dir) = &self.dir {
            let path = dir.join(format!("{id}.wav"));
            if let Ok(bytes) = std::fs::read(&path) {
                match WavPlayer::from_wav_bytes(&bytes) {
                    Ok(p) => return Some(Arc::from(p.samples())),
                    Err(e) => warn!(path = %path.display(), error = %e, "prompt unreadable"),
                }
            }
        }
        let (_, bytes) = BUNDLED.iter().find(|(i, _)| *i == id)?;
        WavPlayer::from_wav_bytes(bytes)
            .ok()
            .map(|p| Arc::from(p.samples()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_prompt_of_the_catalogue_is_bundled_and_decodes() {
        let catalogue = include_str!("../../../prompts/catalogue.txt");
        let mut p = Prompts::new(None);
        let mut n = 0;
        for line in catalogue.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let id = line.split('|').next().unwrap().trim();
            assert!(p.get(id).len() > 800, "prompt {id} missing or too short");
            n += 1;
        }
        assert!(n > 100);
        assert!(p.get("beep").len() > 1000);
    }
}
