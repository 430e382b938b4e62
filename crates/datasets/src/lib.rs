//! Data sets for the MEG experiments: the toy 2-D densities of Figure 2, and
//! the image and tabular data sets, with checksummed downloads.
//!
//! # Cache and manifests
//! - [`manifest::Manifest`]: `data-manifests/<name>.yaml` (compiled in):
//!   mirrors, sizes, sha256 (or published prefix), md5, re-compressed
//!   content hashes, license, citation, where each checksum came from.
//!   Names: `mnist`, `fashion-mnist`, `cifar10`, `kdd99`, `celeba`,
//!   `inception-fid` ([`manifest::BUILTIN`]).
//! - [`store::Store`]: the cache root (`MEG_DATA_DIR`, else
//!   `$XDG_CACHE_HOME/meg/data`, else `~/.cache/meg/data`), one folder per
//!   data set. [`store::Store::require`] re-hashes a data set's files and
//!   returns its folder, or an error naming each bad file and the command to
//!   run; [`store::Store::import`] copies checked files from a folder;
//!   [`store::Store::fetch`] downloads what is missing or corrupt.
//! - [`store::dataset_status`]: for `meg doctor` and friends: is data set
//!   NAME present and verified, and if not, `fix` gives the exact
//!   `meg data fetch NAME` / `meg data import NAME --from DIR` to print.
//! - [`download::Downloader`]: resumable, hashed downloads over mirrors.
//!
//! # Loaders (all check the cache first)
//! - [`images::load_mnist`] / [`images::load_mnist_all`]: MNIST or
//!   Fashion-MNIST ([`images::MnistKind`]) as an [`images::ImageSet`]
//!   (uint8 `[N, 1, 28, 28]`, int64 labels); `float_pm1` / `batch_pm1` give
//!   float in [-1, 1]. [`idx`] reads IDX files, gzipped or raw.
//! - [`stacked::StackedMnist`]: Table 1's StackedMNIST (k = 3 or 4,
//!   `128·10^k` seeded stacks); `batch(n)` gives `[n, k, 28, 28]` in [-1, 1]
//!   and the digit tuples `[n, k]`.
//! - [`holdout::mnist_holdout`]: Table 4's held-out-digit split.
//! - [`cifar::load_cifar10`]: CIFAR-10 binary, 50,000 + 10,000.
//! - [`kdd::load_kdd99`]: Table 3's KDD99 protocol (121 features), with
//!   [`kdd::Scaling::Unscaled`] for the authors' variant.
//! - [`celeba::load_celeba64`]: CelebA aligned, center-cropped, 64x64
//!   (manual download; see the module).
//! - [`inception_weights`]: the verified path of the FID Inception weights.
//! - [`toy`]: the 2-D densities.
//! - [`synthetic`]: small seeded stand-ins for MNIST, CIFAR-10, KDD99 and
//!   CelebA in the true file formats, read back by the loaders above, for
//!   smoke runs (`synthetic::mnist`, `cifar10`, `kdd99`, `celeba64`).

pub mod celeba;
pub mod cifar;
pub mod config;
pub mod decode;
pub mod download;
pub mod hash;
pub mod holdout;
pub mod idx;
pub mod images;
pub mod kdd;
pub mod manifest;
pub mod resample;
pub mod stacked;
pub mod store;
pub mod synthetic;
pub mod toy;
pub mod verify;

pub use config::{DataConfig, Source};
pub use images::{ImageSet, MnistKind, Split};
pub use manifest::Manifest;
pub use store::{dataset_status, DatasetStatus, Store};
pub use verify::FileStatus;

/// The verified path of `pt_inception-2015-12-05-6726825d.pth` in the cache.
pub fn inception_weights(store: &Store) -> anyhow::Result<std::path::PathBuf> {
    let m = Manifest::builtin("inception-fid")?;
    Ok(store.require(&m)?.join(&m.files[0].name))
}
