//! The MNIST stand-in: digit-like glyphs, as the four gzipped IDX files.

use super::{balanced_labels, ensure, formats::write_mnist_split, normal, to_u8, StandIn, VERSION};
use crate::images::{read_mnist_dir, ImageSet, Split};
use anyhow::{ensure as check, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::{PI, TAU};
use std::path::Path;

/// MNIST stand-in sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MnistSpec {
    /// Training images.
    pub train: usize,
    /// Test images.
    pub test: usize,
    /// Generator seed.
    pub seed: u64,
}

impl Default for MnistSpec {
    fn default() -> Self {
        MnistSpec {
            train: 2000,
            test: 500,
            seed: 1,
        }
    }
}

/// Arc of the ellipse centred at (cx, cy) with radii (rx, ry), from angle
/// `a` to `b` (y points down, so -π/2 is the top), in `n` segments.
fn arc(cx: f64, cy: f64, rx: f64, ry: f64, a: f64, b: f64, n: usize) -> Vec<[f64; 2]> {
    (0..=n)
        .map(|i| {
            let t = a + (b - a) * i as f64 / n as f64;
            [cx + rx * t.cos(), cy + ry * t.sin()]
        })
        .collect()
}

/// The glyph of digit class `c`: polylines in the unit square, y down.
fn glyph(c: u8) -> Vec<Vec<[f64; 2]>> {
    match c {
        0 => vec![arc(0.5, 0.5, 0.28, 0.4, 0.0, TAU, 16)],
        1 => vec![vec![[0.35, 0.25], [0.55, 0.1], [0.55, 0.9]]],
        2 => {
            let mut p = arc(0.5, 0.32, 0.25, 0.22, -PI, PI / 6.0, 10);
            p.extend([[0.25, 0.9], [0.78, 0.9]]);
            vec![p]
        }
        3 => vec![
            arc(0.48, 0.3, 0.22, 0.2, -5.0 * PI / 6.0, PI / 2.0, 10),
            arc(0.48, 0.7, 0.25, 0.2, -PI / 2.0, 5.0 * PI / 6.0, 10),
        ],
        4 => vec![vec![[0.62, 0.9], [0.62, 0.1], [0.2, 0.62], [0.8, 0.62]]],
        5 => {
            let mut p = vec![[0.75, 0.1], [0.32, 0.1], [0.3, 0.47]];
            p.extend(arc(0.5, 0.66, 0.25, 0.24, -2.3, 2.5, 12));
            vec![p]
        }
        6 => vec![
            vec![[0.68, 0.1], [0.45, 0.3], [0.31, 0.62]],
            arc(0.5, 0.68, 0.2, 0.2, 0.0, TAU, 12),
        ],
        7 => vec![vec![[0.22, 0.12], [0.78, 0.12], [0.42, 0.9]]],
        8 => vec![
            arc(0.5, 0.3, 0.18, 0.18, 0.0, TAU, 12),
            arc(0.5, 0.7, 0.22, 0.2, 0.0, TAU, 12),
        ],
        _ => vec![
            arc(0.5, 0.32, 0.2, 0.2, 0.0, TAU, 12),
            vec![[0.7, 0.32], [0.64, 0.9]],
        ],
    }
}

/// Distance from `p` to the segment `a`-`b`.
fn segment_distance(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (ex, ey) = (p[0] - a[0] - t * dx, p[1] - a[1] - t * dy);
    (ex * ex + ey * ey).sqrt()
}

/// Renders a 28x28 image of class `c` into `out`.
fn render_digit(c: u8, rng: &mut ChaCha8Rng, out: &mut Vec<u8>) {
    let angle = rng.random_range(-0.3..0.3);
    let scale = rng.random_range(0.8..1.1);
    let slant = rng.random_range(-0.25..0.25);
    let (tx, ty) = (rng.random_range(-2.5..2.5), rng.random_range(-2.5..2.5));
    let radius: f64 = rng.random_range(0.9..2.0);
    let peak = rng.random_range(190.0..255.0);
    let (sin, cos) = f64::sin_cos(angle);
    let map = |[u, v]: [f64; 2]| {
        let (y, x) = ((v - 0.5) * 20.0, (u - 0.5) * 20.0);
        let (x, y) = ((x + slant * y) * scale, y * scale);
        [14.0 + tx + cos * x - sin * y, 14.0 + ty + sin * x + cos * y]
    };
    let mut segments = Vec::new();
    for line in glyph(c) {
        let pts: Vec<[f64; 2]> = line.into_iter().map(map).collect();
        segments.extend(pts.windows(2).map(|w| (w[0], w[1])));
    }
    let reach = radius + 0.5;
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for &(a, b) in &segments {
        x0 = x0.min(a[0]).min(b[0]);
        y0 = y0.min(a[1]).min(b[1]);
        x1 = x1.max(a[0]).max(b[0]);
        y1 = y1.max(a[1]).max(b[1]);
    }
    for i in 0..28 {
        for j in 0..28 {
            let p = [j as f64 + 0.5, i as f64 + 0.5];
            let near =
                p[0] > x0 - reach && p[0] < x1 + reach && p[1] > y0 - reach && p[1] < y1 + reach;
            let ink = if near {
                let d = segments
                    .iter()
                    .map(|&(a, b)| segment_distance(p, a, b))
                    .fold(f64::MAX, f64::min);
                (reach - d).clamp(0.0, 1.0) * peak
            } else {
                0.0
            };
            out.push(to_u8(ink + 6.0 * normal(rng)));
        }
    }
}

impl StandIn for MnistSpec {
    fn dir_name(&self) -> String {
        format!(
            "mnist-{VERSION}-{}+{}-s{}",
            self.train, self.test, self.seed
        )
    }

    fn write(&self, dir: &Path) -> Result<()> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        for (split, n) in [(Split::Train, self.train), (Split::Test, self.test)] {
            check!(n > 0, "MNIST stand-in: empty {split:?} split");
            let labels = balanced_labels(n, 10, &mut rng);
            let mut pixels = Vec::with_capacity(n * 784);
            for &c in &labels {
                render_digit(c, &mut rng, &mut pixels);
            }
            write_mnist_split(dir, split, 28, 28, &pixels, &labels)?;
        }
        Ok(())
    }
}

/// One split of the default MNIST stand-in, via [`read_mnist_dir`].
pub fn mnist(root: &Path, split: Split) -> Result<ImageSet> {
    read_mnist_dir(&ensure(root, &MnistSpec::default())?, split)
}

/// Training and test parts of the default MNIST stand-in together.
pub fn mnist_all(root: &Path) -> Result<ImageSet> {
    let dir = ensure(root, &MnistSpec::default())?;
    let train = read_mnist_dir(&dir, Split::Train)?;
    let test = read_mnist_dir(&dir, Split::Test)?;
    ImageSet::concat(&[&train, &test])
}
