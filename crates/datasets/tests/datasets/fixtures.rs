//! Small files in the true formats, and manifests for them.

use meg_datasets::hash::Hasher;
use meg_datasets::synthetic::{write_file, write_mnist_split};
use meg_datasets::{Manifest, Split};
use std::path::Path;

pub use meg_datasets::synthetic::{gzip, idx_bytes};

/// sha256 and md5 (hex) of bytes.
pub fn digests(bytes: &[u8]) -> (String, String) {
    let mut h = Hasher::new();
    h.update(bytes);
    let d = h.finish();
    (d.sha256, d.md5)
}

/// A manifest entry for `bytes` named `name` served at `urls`.
pub fn file_yaml(name: &str, bytes: &[u8], urls: &[String]) -> String {
    let (sha, md5) = digests(bytes);
    let urls: String = urls.iter().map(|u| format!("\n      - {u}")).collect();
    format!(
        "  - name: {name}\n    urls:{}\n    size: {}\n    sha256: {sha}\n    md5: {md5}\n    source: test fixture\n",
        if urls.is_empty() {
            " [http://127.0.0.1:9/unused]".to_string()
        } else {
            urls
        },
        bytes.len()
    )
}

/// A manifest named `name` with the given file entries.
pub fn manifest(name: &str, files: &[String]) -> Manifest {
    let text = format!(
        "name: {name}\ntitle: test\nlicense: test\ncitation: test\nfiles:\n{}",
        files.concat()
    );
    Manifest::parse(&text, "test manifest").unwrap()
}

/// A deterministic pseudo-random byte string.
pub fn bytes(n: usize, seed: u8) -> Vec<u8> {
    let mut x = (seed as u32 + 1).wrapping_mul(0x9E37_79B9) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 7) as u8
        })
        .collect()
}

/// Writes `bytes` to `dir/name`.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) {
    write_file(dir, name, bytes).unwrap();
}

/// A fake MNIST folder: `n_train` + `n_test` 28x28 images, image i of a
/// split filled with `label * 25 + 3` where label = i % 10, gzipped IDX.
pub fn write_mnist_dir(dir: &Path, n_train: usize, n_test: usize) {
    for (split, n) in [(Split::Train, n_train), (Split::Test, n_test)] {
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let pixels: Vec<u8> = labels
            .iter()
            .flat_map(|&l| std::iter::repeat_n(l * 25 + 3, 28 * 28))
            .collect();
        write_mnist_split(dir, split, 28, 28, &pixels, &labels).unwrap();
    }
}
