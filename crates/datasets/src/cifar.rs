//! CIFAR-10, binary version, read straight from `cifar-10-binary.tar.gz`.
//!
//! Members `cifar-10-batches-bin/data_batch_1.bin` .. `_5.bin` (training)
//! and `test_batch.bin` hold records of 1 label byte (0-9) and 3072 pixel
//! bytes: the red, green and blue 32x32 planes, row-major. Every batch must
//! be present and a whole number of records; labels are checked.

use crate::hash::GzReader;
use crate::images::{ImageSet, Split};
use crate::manifest::Manifest;
use crate::store::Store;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// Bytes per record: label + 3·32·32 pixels.
pub const RECORD: usize = 1 + 3 * 32 * 32;
/// Archive name in the cache.
pub const ARCHIVE: &str = "cifar-10-binary.tar.gz";

/// The batch members of a split, in order.
pub fn members(split: Split) -> Vec<String> {
    let dir = "cifar-10-batches-bin";
    match split {
        Split::Train => (1..=5)
            .map(|i| format!("{dir}/data_batch_{i}.bin"))
            .collect(),
        Split::Test => vec![format!("{dir}/test_batch.bin")],
    }
}

/// Parses one batch file's bytes into (pixels, labels); `origin` names it.
pub fn parse_batch(bytes: &[u8], origin: &str) -> Result<(Vec<u8>, Vec<i64>)> {
    let whole = bytes.len() / RECORD * RECORD;
    if bytes.is_empty() || whole != bytes.len() {
        bail!(
            "{origin}: {} bytes is not a positive multiple of the {RECORD}-byte record (truncated or not a CIFAR-10 batch; the last whole record ends at offset {whole})",
            bytes.len()
        );
    }
    let n = bytes.len() / RECORD;
    let mut pixels = Vec::with_capacity(n * (RECORD - 1));
    let mut labels = Vec::with_capacity(n);
    for (i, rec) in bytes.chunks_exact(RECORD).enumerate() {
        if rec[0] > 9 {
            bail!(
                "{origin}: label {} at offset {}, expected 0-9",
                rec[0],
                i * RECORD
            );
        }
        labels.push(rec[0] as i64);
        pixels.extend_from_slice(&rec[1..]);
    }
    Ok((pixels, labels))
}

/// One split from a `cifar-10-binary.tar.gz` (no checksum check: use
/// [`load_cifar10`] for cached data).
pub fn read_cifar10_archive(path: &Path, split: Split) -> Result<ImageSet> {
    let wanted = members(split);
    let mut found: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut gz = GzReader::open(path)?;
    let at = gz.tracker();
    let mut archive = tar::Archive::new(&mut gz);
    let entries = archive
        .entries()
        .map_err(|e| at.error(format!("reading the tar stream: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| at.error(format!("corrupt tar entry: {e}")))?;
        let name = entry
            .path()
            .map_err(|e| at.error(format!("bad tar member name: {e}")))?
            .to_string_lossy()
            .into_owned();
        if wanted.contains(&name) {
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| at.error(format!("reading member {name}: {e}")))?;
            found.insert(name, bytes);
        }
    }
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for m in &wanted {
        let bytes = found
            .get(m)
            .with_context(|| format!("{}: member {m} missing", path.display()))?;
        let (p, l) = parse_batch(bytes, &format!("{}:{m}", path.display()))?;
        pixels.extend_from_slice(&p);
        labels.extend_from_slice(&l);
    }
    let n = labels.len();
    ImageSet::from_pixels(pixels, [n, 3, 32, 32], labels)
}

/// One split of CIFAR-10 (50,000 train or 10,000 test) from the cache,
/// after checking the archive against the manifest.
pub fn load_cifar10(store: &Store, split: Split) -> Result<ImageSet> {
    let dir = store.require(&Manifest::builtin("cifar10")?)?;
    read_cifar10_archive(&dir.join(ARCHIVE), split)
}
