//! Embeds the bundled English prompts (`prompts/en/**.wav`) into the binary, so that a fresh checkout
//! runs without a speech engine and without knowing where the repository is.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, base: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, base, out);
        } else if p.extension().is_some_and(|x| x == "wav") {
            let rel = p.strip_prefix(base).unwrap_or(&p).with_extension("");
            out.push((rel.to_string_lossy().replace('\\', "/"), p));
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../prompts/en");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    files.sort();
    let mut code = String::from(
        "/// Bundled prompts: (id, WAV bytes).\npub static BUNDLED: &[(&str, &[u8])] = &[\n",
    );
    for (id, path) in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let abs = path.canonicalize().unwrap();
        writeln!(
            code,
            "    ({id:?}, include_bytes!({:?})),",
            abs.display().to_string()
        )
        .unwrap();
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("bundled_prompts.rs");
    std::fs::write(out, code).unwrap();
}
