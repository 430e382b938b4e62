//! The CIFAR-10 stand-in: a coloured shape per class, as the binary tar.gz.

use super::{
    balanced_labels, ensure,
    formats::{tar_gz, write_file},
    normal, to_u8, StandIn, VERSION,
};
use crate::cifar::{self, read_cifar10_archive, ARCHIVE};
use crate::images::{ImageSet, Split};
use anyhow::{ensure as check, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// CIFAR-10 stand-in sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CifarSpec {
    /// Records in each of the five training batches.
    pub per_batch: usize,
    /// Records in the test batch.
    pub test: usize,
    /// Generator seed.
    pub seed: u64,
}

impl Default for CifarSpec {
    fn default() -> Self {
        CifarSpec {
            per_batch: 200,
            test: 200,
            seed: 1,
        }
    }
}

/// The colour of each class.
const CIFAR_COLOURS: [[f64; 3]; 10] = [
    [220.0, 40.0, 40.0],
    [40.0, 200.0, 60.0],
    [50.0, 80.0, 230.0],
    [230.0, 220.0, 50.0],
    [210.0, 50.0, 200.0],
    [40.0, 210.0, 220.0],
    [240.0, 140.0, 30.0],
    [235.0, 235.0, 235.0],
    [130.0, 60.0, 170.0],
    [150.0, 110.0, 50.0],
];

/// How much of the class colour covers pixel offset (dx, dy) from the shape
/// centre, for shape size `r` and stripe period `p`: disc, square,
/// triangle, horizontal stripes, ring, cross, vertical stripes, diamond,
/// checkerboard, soft blob.
fn cifar_cover(c: u8, dx: f64, dy: f64, r: f64, p: f64) -> f64 {
    let d = (dx * dx + dy * dy).sqrt();
    let stripe = |t: f64| (t / p).rem_euclid(2.0) < 1.0;
    let on = match c {
        0 => d <= r,
        1 => dx.abs().max(dy.abs()) <= 0.8 * r,
        2 => dy >= -r && dy <= 0.7 * r && dx.abs() <= 0.6 * (dy + r),
        3 => stripe(dy),
        4 => d <= r && d >= 0.6 * r,
        5 => (dx.abs() <= 0.3 * r && dy.abs() <= r) || (dy.abs() <= 0.3 * r && dx.abs() <= r),
        6 => stripe(dx),
        7 => dx.abs() + dy.abs() <= r,
        8 => stripe(dx) != stripe(dy),
        _ => return (1.0 - d / (1.6 * r)).clamp(0.0, 1.0),
    };
    if on {
        1.0
    } else {
        0.0
    }
}

/// Appends one 3073-byte CIFAR record of class `c`.
fn render_cifar(c: u8, rng: &mut ChaCha8Rng, out: &mut Vec<u8>) {
    let bg: [f64; 3] = std::array::from_fn(|_| rng.random_range(0.0..110.0));
    let fg: [f64; 3] =
        std::array::from_fn(|k| CIFAR_COLOURS[c as usize][k] + rng.random_range(-25.0..25.0));
    let (cx, cy) = (
        16.0 + rng.random_range(-5.0..5.0),
        16.0 + rng.random_range(-5.0..5.0),
    );
    let r = rng.random_range(7.0..12.0);
    let p = rng.random_range(3.0..6.0);
    let cover: Vec<f64> = (0..32 * 32)
        .map(|k| {
            cifar_cover(
                c,
                (k % 32) as f64 + 0.5 - cx,
                (k / 32) as f64 + 0.5 - cy,
                r,
                p,
            )
        })
        .collect();
    out.push(c);
    for k in 0..3 {
        for a in &cover {
            out.push(to_u8(bg[k] + a * (fg[k] - bg[k]) + 8.0 * normal(rng)));
        }
    }
}

impl StandIn for CifarSpec {
    fn dir_name(&self) -> String {
        format!(
            "cifar10-{VERSION}-5x{}+{}-s{}",
            self.per_batch, self.test, self.seed
        )
    }

    fn write(&self, dir: &Path) -> Result<()> {
        check!(
            self.per_batch > 0 && self.test > 0,
            "CIFAR-10 stand-in: every batch needs a record"
        );
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let names = b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";
        let mut members = vec![(
            "cifar-10-batches-bin/batches.meta.txt".to_string(),
            names.to_vec(),
        )];
        for (split, n) in [(Split::Train, 5 * self.per_batch), (Split::Test, self.test)] {
            let labels = balanced_labels(n, 10, &mut rng);
            let wanted = cifar::members(split);
            for (name, part) in wanted.iter().zip(labels.chunks(n / wanted.len())) {
                let mut bytes = Vec::with_capacity(part.len() * cifar::RECORD);
                for &c in part {
                    render_cifar(c, &mut rng, &mut bytes);
                }
                members.push((name.clone(), bytes));
            }
        }
        write_file(dir, ARCHIVE, &tar_gz(&members)?)
    }
}

/// One split of the default CIFAR-10 stand-in, via [`read_cifar10_archive`].
pub fn cifar10(root: &Path, split: Split) -> Result<ImageSet> {
    read_cifar10_archive(&ensure(root, &CifarSpec::default())?.join(ARCHIVE), split)
}
