//! Small synthetic stand-ins for the data sets, written in the true file
//! formats and read back through the real parsers, so that "smoke" runs
//! exercise the whole pipeline (format parsing, protocol splits, training,
//! metrics) in seconds, anywhere.
//!
//! A stand-in is a spec ([`StandIn`]: sizes and a seed) whose files are
//! generated with ChaCha8: the same spec gives byte-identical files on every
//! run (on one platform; the renderers use `f64` `sin`/`cos`/`exp`).
//! [`ensure`] creates a stand-in once, as `<root>/<spec.dir_name()>`,
//! writing into a hidden temporary folder that is then renamed into place,
//! so concurrent or interrupted calls never leave a half-written set.
//! [`default_root`] is `<data cache root>/synthetic`.
//!
//! - [`MnistSpec`] (default 2,000 train + 500 test): the four gzipped IDX
//!   files of [`crate::images::idx_files`]; 28x28 uint8 images of a digit-like glyph per
//!   class (0-9), under a random rotation, slant, scale, shift and stroke
//!   width, plus a little noise. Classes are exactly balanced.
//! - [`CifarSpec`] (default 5 x 200 train + 200 test):
//!   `cifar-10-binary.tar.gz` with the members of [`crate::cifar::members`]; each
//!   class is a shape in its own colour (jittered) on a random background.
//! - [`KddSpec`] (default 4,000 rows): `kddcup.data_10_percent.gz`, 41
//!   features and a label with its trailing `.`; 30% `normal.` rows (the
//!   anomaly class, plentiful enough that the test set gets its full 20%)
//!   look like ordinary logged-in sessions, the others like smurf, neptune
//!   and probe attacks; the probes cycle through every categorical value.
//! - [`CelebaSpec`] (default 300 images): `img_align_celeba.zip` of
//!   178x218 JPEG cartoon faces and `list_eval_partition.txt` (80/10/10).
//!
//! Loaders with the default specs, through the real readers: [`mnist`],
//! [`mnist_all`], [`cifar10`], [`kdd99`], [`celeba64`]. For another spec,
//! read `ensure(root, &spec)?` with the real reader. The format writers
//! ([`idx_bytes`], [`gzip`], [`write_mnist_split`], [`tar_gz`],
//! [`zip_archive`]) also serve the tests' fixtures.

mod connections;
mod digits;
mod faces;
mod formats;
mod objects;

pub use connections::{kdd99, KddSpec};
pub use digits::{mnist, mnist_all, MnistSpec};
pub use faces::{celeba64, CelebaSpec};
pub use formats::{gzip, idx_bytes, tar_gz, write_file, write_mnist_split, zip_archive};
pub use objects::{cifar10, CifarSpec};

use anyhow::{Context, Result};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Format version of the generators, part of every folder name.
pub const VERSION: &str = "v1";

/// `<data cache root>/synthetic` (see [`crate::store::data_root`]).
pub fn default_root() -> Result<PathBuf> {
    Ok(crate::store::data_root()?.join("synthetic"))
}

/// A synthetic data set: where it lives under a root and how to write it.
pub trait StandIn {
    /// Folder name under the root: data set, [`VERSION`], sizes and seed.
    fn dir_name(&self) -> String;
    /// Writes every file into `dir`, an existing empty folder.
    fn write(&self, dir: &Path) -> Result<()>;
}

/// The folder `<root>/<spec.dir_name()>`, written once: into a hidden
/// temporary folder `.<name>.tmp-<pid>-<n>`, then renamed into place (a
/// concurrent call that finished first wins, and this one's copy is
/// dropped). A killed process may leave its hidden folder behind, never a
/// partial `<name>`.
pub fn ensure(root: &Path, spec: &impl StandIn) -> Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = spec.dir_name();
    let dir = root.join(&name);
    if dir.is_dir() {
        return Ok(dir);
    }
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let tmp = root.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let written = spec
        .write(&tmp)
        .with_context(|| format!("writing synthetic {name}"));
    let result = written.and_then(|()| match std::fs::rename(&tmp, &dir) {
        Ok(()) => Ok(()),
        Err(_) if dir.is_dir() => Ok(()),
        Err(e) => Err(e).with_context(|| format!("renaming {} into place", tmp.display())),
    });
    let _ = std::fs::remove_dir_all(&tmp);
    result.map(|()| dir)
}

/// Labels `0..classes`, each `n / classes` or one more times, shuffled.
pub(crate) fn balanced_labels(n: usize, classes: usize, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut labels: Vec<u8> = (0..n).map(|i| (i % classes) as u8).collect();
    labels.shuffle(rng);
    labels
}

pub(crate) fn normal(rng: &mut ChaCha8Rng) -> f64 {
    rng.sample(StandardNormal)
}

pub(crate) fn to_u8(x: f64) -> u8 {
    x.round().clamp(0.0, 255.0) as u8
}
