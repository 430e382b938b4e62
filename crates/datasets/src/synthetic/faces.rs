//! The CelebA stand-in: cartoon faces, as JPEGs in a zip and the partition list.

use super::{
    ensure,
    formats::{write_file, zip_archive},
    StandIn, VERSION,
};
use crate::celeba::{build_from_files, PARTITION, ZIP, ZIP_DIR};
use crate::decode::{encode_jpeg, Rgb};
use crate::images::ImageSet;
use anyhow::{ensure as check, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// CelebA stand-in size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CelebaSpec {
    /// Images; the first 80% are partition 0, the next 10% partition 1.
    pub images: usize,
    /// Generator seed.
    pub seed: u64,
}

impl Default for CelebaSpec {
    fn default() -> Self {
        CelebaSpec {
            images: 300,
            seed: 1,
        }
    }
}

/// Width and height of the aligned CelebA images.
const FACE_W: usize = 178;
const FACE_H: usize = 218;

fn jitter(rng: &mut ChaCha8Rng, base: [f64; 3], by: f64) -> [f64; 3] {
    std::array::from_fn(|k| base[k] + rng.random_range(-by..=by))
}

fn pick(rng: &mut ChaCha8Rng, palette: &[[f64; 3]]) -> [f64; 3] {
    palette[rng.random_range(0..palette.len())]
}

/// Renders cartoon face `i` of the set seeded by `seed` (its own ChaCha8
/// stream, so images can be drawn in any order): uint8 HWC, `FACE_H` x
/// `FACE_W` x 3, flat colours under a smooth sideways light.
fn render_face(seed: u64, i: usize) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(i as u64);
    let rng = &mut rng;
    let bg = std::array::from_fn::<f64, 3, _>(|_| rng.random_range(30.0..230.0));
    let shirt = std::array::from_fn::<f64, 3, _>(|_| rng.random_range(20.0..220.0));
    let hair_palette = [
        [30.0, 25.0, 20.0],
        [90.0, 60.0, 35.0],
        [200.0, 170.0, 100.0],
        [150.0, 150.0, 150.0],
        [120.0, 50.0, 30.0],
    ];
    let skin_palette = [
        [240.0, 200.0, 170.0],
        [220.0, 170.0, 130.0],
        [170.0, 120.0, 90.0],
        [110.0, 75.0, 55.0],
    ];
    let iris_palette = [[60.0, 40.0, 20.0], [40.0, 90.0, 150.0], [60.0, 110.0, 60.0]];
    let hair = pick(rng, &hair_palette);
    let hair = jitter(rng, hair, 15.0);
    let skin = pick(rng, &skin_palette);
    let skin = jitter(rng, skin, 10.0);
    let iris = pick(rng, &iris_palette);
    let lips = jitter(rng, [180.0, 60.0, 70.0], 20.0);
    let nose: [f64; 3] = std::array::from_fn(|k| skin[k] * 0.85);
    let white = [235.0, 235.0, 230.0];
    let cx = 89.0 + rng.random_range(-6.0..6.0);
    let cy = 115.0 + rng.random_range(-6.0..6.0);
    let s = rng.random_range(0.9..1.1);
    let hair_len = rng.random_range(0.0..40.0);
    let smile = rng.random_range(-2.0..3.0);
    let light = rng.random_range(-0.15..0.15);
    let inside = |x: f64, y: f64, ex: f64, ey: f64, rx: f64, ry: f64| {
        ((x - ex) / rx).powi(2) + ((y - ey) / ry).powi(2) <= 1.0
    };
    let eye_y = cy - 8.0 * s;
    let (left, right) = (cx - 15.0 * s, cx + 15.0 * s);
    let shade: Vec<f64> = (0..FACE_W)
        .map(|j| 1.0 + light * (j as f64 + 0.5 - 89.0) / 89.0)
        .collect();
    let mut out = Vec::with_capacity(FACE_W * FACE_H * 3);
    for i in 0..FACE_H {
        for (j, shade) in shade.iter().enumerate() {
            let (x, y) = (j as f64 + 0.5, i as f64 + 0.5);
            let (dx, dy) = (x - cx, y - cy);
            let on_eyes = |rx: f64, ry: f64, ey: f64| {
                inside(x, y, left, ey, rx * s, ry * s) || inside(x, y, right, ey, rx * s, ry * s)
            };
            let head = dx.abs() < 55.0 * s && dy > -75.0 * s && dy < 55.0 * s;
            let colour = if head && on_eyes(2.8, 2.8, eye_y) {
                iris
            } else if head && on_eyes(7.0, 4.0, eye_y) {
                white
            } else if head && on_eyes(8.0, 1.8, eye_y - 9.0 * s) {
                hair
            } else if head
                && inside(
                    x,
                    y,
                    cx,
                    cy + 25.0 * s + smile * (dx / (11.0 * s)).powi(2),
                    11.0 * s,
                    3.5 * s,
                )
            {
                lips
            } else if head && inside(x, y, cx, cy + 8.0 * s, 4.0 * s, 8.0 * s) {
                nose
            } else if head && dy > -30.0 * s && inside(x, y, cx, cy, 38.0 * s, 50.0 * s) {
                skin
            } else if inside(x, y, cx, cy - 12.0 * s, 50.0 * s, 60.0 * s)
                || (dx.abs() < 50.0 * s && dy > 0.0 && dy < hair_len * s)
            {
                hair
            } else if dx.abs() < 16.0 * s && dy > 0.0 && dy < 70.0 {
                skin
            } else if dy > 60.0 * s && dx.abs() < 70.0 + (dy - 60.0 * s) * 0.6 {
                shirt
            } else {
                bg
            };
            out.extend(colour.map(|c| (c * shade).clamp(0.0, 255.0) as u8));
        }
    }
    out
}

/// JPEG-encodes faces `range` of the set seeded by `seed` (libjpeg,
/// quality 90) as zip members `img_align_celeba/NNNNNN.jpg`.
fn encode_faces(seed: u64, range: std::ops::Range<usize>) -> Result<Vec<(String, Vec<u8>)>> {
    range
        .map(|i| {
            let face = Rgb {
                data: render_face(seed, i),
                width: FACE_W,
                height: FACE_H,
            };
            Ok((
                format!("{ZIP_DIR}/{:06}.jpg", i + 1),
                encode_jpeg(&face, 90.0)?,
            ))
        })
        .collect()
}

impl StandIn for CelebaSpec {
    fn dir_name(&self) -> String {
        format!("celeba-{VERSION}-{}-s{}", self.images, self.seed)
    }

    fn write(&self, dir: &Path) -> Result<()> {
        let n = self.images;
        check!(n > 0, "CelebA stand-in: no images");
        let workers = std::thread::available_parallelism().map_or(1, |w| w.get().min(8));
        let chunk = n.div_ceil(workers);
        let parts: Vec<Result<Vec<_>>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .step_by(chunk)
                .map(|a| s.spawn(move || encode_faces(self.seed, a..n.min(a + chunk))))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(anyhow::anyhow!("a CelebA stand-in worker panicked"))
                    })
                })
                .collect()
        });
        let members: Vec<_> = parts.into_iter().collect::<Result<Vec<_>>>()?.concat();
        let partition: String = (0..n)
            .map(|i| {
                let part = match i * 10 / n {
                    0..=7 => 0,
                    8 => 1,
                    _ => 2,
                };
                format!("{:06}.jpg {part}\n", i + 1)
            })
            .collect();
        write_file(dir, ZIP, &zip_archive(&members)?)?;
        write_file(dir, PARTITION, partition.as_bytes())
    }
}

/// The default CelebA stand-in through [`build_from_files`]: uint8
/// `[N, 3, 64, 64]`, labels holding the partition (0 train, 1 valid,
/// 2 test).
pub fn celeba64(root: &Path) -> Result<ImageSet> {
    let dir = ensure(root, &CelebaSpec::default())?;
    build_from_files(&dir.join(ZIP), &dir.join(PARTITION), false)
}
