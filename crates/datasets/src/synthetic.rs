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
//!   files of [`idx_files`]; 28x28 uint8 images of a digit-like glyph per
//!   class (0-9), under a random rotation, slant, scale, shift and stroke
//!   width, plus a little noise. Classes are exactly balanced.
//! - [`CifarSpec`] (default 5 x 200 train + 200 test):
//!   `cifar-10-binary.tar.gz` with the members of [`cifar::members`]; each
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

use crate::celeba::{build_from_files, PARTITION, ZIP, ZIP_DIR};
use crate::cifar::{self, read_cifar10_archive, ARCHIVE};
use crate::images::{idx_files, read_mnist_dir, ImageSet, Split};
use crate::kdd::{self, kdd99_split, parse_kdd, Kdd99, KddOptions};
use anyhow::{ensure as check, Context, Result};
use flate2::write::GzEncoder;
use flate2::Compression;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use std::f64::consts::{PI, TAU};
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use tch::Tensor;

/// Format version of the generators, part of every folder name.
pub const VERSION: &str = "v1";

/// `<data cache root>/synthetic` (see [`crate::store::data_root`]).
pub fn default_root() -> Result<PathBuf> {
    Ok(crate::store::data_root()?.join("synthetic"))
}

// ---------------------------------------------------------------- writers

/// IDX bytes (type 0x08, unsigned byte) with the given dimensions.
pub fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// gzip of `bytes` at `level` (0-9); no name or time in the header, so
/// equal input gives equal output.
pub fn gzip(bytes: &[u8], level: u32) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::new(level));
    e.write_all(bytes).expect("writing to memory cannot fail");
    e.finish().expect("writing to memory cannot fail")
}

/// Writes `bytes` to `dir/name` (creating `dir`) and syncs the file.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let path = dir.join(name);
    (|| -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let mut f = std::fs::File::create(&path)?;
        f.write_all(bytes)?;
        f.sync_all()
    })()
    .with_context(|| format!("writing {}", path.display()))
}

/// Writes one MNIST split into `dir` as the two gzipped IDX files named by
/// [`idx_files`]: `pixels` holds `labels.len()` images of `rows`x`cols`.
pub fn write_mnist_split(
    dir: &Path,
    split: Split,
    rows: u32,
    cols: u32,
    pixels: &[u8],
    labels: &[u8],
) -> Result<()> {
    let n = labels.len();
    check!(
        pixels.len() == n * rows as usize * cols as usize,
        "{} pixels for {n} images of {rows}x{cols}",
        pixels.len()
    );
    let (img, lab) = idx_files(split);
    write_file(
        dir,
        img,
        &gzip(&idx_bytes(&[n as u32, rows, cols], pixels), 6),
    )?;
    write_file(dir, lab, &gzip(&idx_bytes(&[n as u32], labels), 6))
}

/// A gzipped tar archive of regular files `(member path, bytes)`, mode
/// 0644, owner 0, time 0: equal input gives equal output.
pub fn tar_gz(members: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::new(6)));
    for (name, bytes) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        tar.append_data(&mut h, name, &bytes[..])
            .with_context(|| format!("adding {name} to a tar archive"))?;
    }
    Ok(tar.into_inner()?.finish()?)
}

/// A zip archive of `(member path, bytes)`, deflated, every time stamp
/// 1980-01-01: equal input gives equal output.
pub fn zip_archive(members: &[(String, Vec<u8>)]) -> Result<Vec<u8>> {
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::FileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    for (name, bytes) in members {
        z.start_file(name, opts)
            .with_context(|| format!("adding {name} to a zip archive"))?;
        z.write_all(bytes)?;
    }
    Ok(z.finish()?.into_inner())
}

// ------------------------------------------------------- stand-in folders

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
fn balanced_labels(n: usize, classes: usize, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut labels: Vec<u8> = (0..n).map(|i| (i % classes) as u8).collect();
    labels.shuffle(rng);
    labels
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    rng.sample(StandardNormal)
}

fn to_u8(x: f64) -> u8 {
    x.round().clamp(0.0, 255.0) as u8
}

// ------------------------------------------------------------------ MNIST

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
    Ok(ImageSet::concat(&[&train, &test]))
}

// --------------------------------------------------------------- CIFAR-10

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

// ------------------------------------------------------------------ KDD99

/// KDD99 stand-in size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KddSpec {
    /// Rows in all; 30% of them `normal.`.
    pub rows: usize,
    /// Generator seed.
    pub seed: u64,
}

impl Default for KddSpec {
    fn default() -> Self {
        KddSpec {
            rows: 4000,
            seed: 1,
        }
    }
}

/// Kinds of rows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Normal,
    Smurf,
    Neptune,
    Probe,
}

/// Whether column `c` is a rate written with two decimals.
fn is_rate(c: usize) -> bool {
    (24..=30).contains(&c) || (33..=40).contains(&c)
}

/// The option that `x` in [0, 1] falls on.
fn choose<'a>(x: f64, options: &[&'a str]) -> &'a str {
    options[((x * options.len() as f64) as usize).min(options.len() - 1)]
}

/// One CSV line (no newline) of `family`; `j` counts the probe rows, which
/// cycle through every protocol, service, flag and binary value.
fn kdd_line(family: Family, j: usize, rng: &mut ChaCha8Rng) -> String {
    let [protocols, services, flags, ..] = kdd::VOCABULARY;
    let mut v = [0.0f64; 41];
    let mut u = |a: f64, b: f64| rng.random_range(a..=b);
    let (cat, label): ([&str; 3], &str) = match family {
        Family::Normal => {
            let r = u(0.0, 1.0);
            let cat = if r < 0.85 {
                let services = [
                    "http", "http", "http", "http", "http", "http", "smtp", "smtp", "ftp_data",
                    "ftp", "telnet", "pop_3", "finger", "auth", "IRC",
                ];
                let flag = if u(0.0, 1.0) < 0.93 {
                    "SF"
                } else {
                    choose(u(0.0, 1.0), &["S1", "RSTO", "REJ", "S3", "RSTR"])
                };
                ["tcp", choose(u(0.0, 1.0), &services), flag]
            } else if r < 0.97 {
                let services = ["domain_u", "domain_u", "domain_u", "ntp_u", "private"];
                ["udp", choose(u(0.0, 1.0), &services), "SF"]
            } else {
                let services = ["ecr_i", "eco_i", "urp_i", "tim_i"];
                ["icmp", choose(u(0.0, 1.0), &services), "SF"]
            };
            v[0] = if u(0.0, 1.0) < 0.8 {
                0.0
            } else {
                u(1.0, 300.0)
            };
            (v[4], v[5]) = match cat {
                ["tcp", "http", _] => (u(150.0, 350.0), u(200.0, 8000.0)),
                ["tcp", ..] => (u(4.2, 7.8).exp(), u(5.5, 9.5).exp()),
                ["udp", ..] => (u(30.0, 120.0), u(30.0, 300.0)),
                _ => (u(8.0, 64.0), 0.0),
            };
            v[9] = if u(0.0, 1.0) < 0.8 { 0.0 } else { u(1.0, 5.0) };
            v[11] = (cat[0] == "tcp" && cat[2] == "SF") as u8 as f64;
            v[12] = (u(0.0, 1.0) < 0.05) as u8 as f64;
            v[16] = if u(0.0, 1.0) < 0.95 { 0.0 } else { u(1.0, 3.0) };
            v[18] = (u(0.0, 1.0) < 0.03) as u8 as f64;
            v[21] = (cat[1].starts_with("ftp") && u(0.0, 1.0) < 0.1) as u8 as f64;
            v[22] = u(1.0, 20.0);
            v[23] = u(1.0, 25.0);
            v[24] = if u(0.0, 1.0) < 0.95 {
                0.0
            } else {
                u(0.01, 0.1)
            };
            v[25] = v[24];
            v[28] = if u(0.0, 1.0) < 0.9 { 1.0 } else { u(0.5, 1.0) };
            v[29] = if u(0.0, 1.0) < 0.8 { 0.0 } else { u(0.0, 0.2) };
            v[30] = if u(0.0, 1.0) < 0.6 { 0.0 } else { u(0.0, 0.4) };
            v[31] = u(1.0, 255.0);
            v[32] = u(1.0, 255.0);
            v[33] = u(0.6, 1.0);
            v[34] = u(0.0, 0.05);
            v[35] = u(0.0, 0.3);
            v[36] = u(0.0, 0.1);
            v[37] = u(0.0, 0.02);
            v[39] = u(0.0, 0.05);
            v[40] = u(0.0, 0.02);
            (cat, kdd::NORMAL)
        }
        Family::Smurf => {
            v[4] = if u(0.0, 1.0) < 0.8 { 1032.0 } else { 520.0 };
            v[22] = u(480.0, 511.0);
            v[23] = v[22];
            v[28] = 1.0;
            v[31] = 255.0;
            v[32] = 255.0;
            v[33] = 1.0;
            v[35] = if u(0.0, 1.0) < 0.9 { 1.0 } else { u(0.9, 1.0) };
            (["icmp", "ecr_i", "SF"], "smurf.")
        }
        Family::Neptune => {
            let s0 = u(0.0, 1.0) < 0.85;
            let (serror, rerror) = if s0 { (1.0, 0.0) } else { (0.0, 1.0) };
            let service = choose(u(0.0, 1.0), services);
            v[22] = u(100.0, 280.0);
            v[23] = u(1.0, 25.0);
            (v[24], v[25], v[26], v[27]) = (serror, serror, rerror, rerror);
            v[28] = u(0.0, 0.1);
            v[29] = u(0.04, 0.08);
            v[31] = 255.0;
            v[32] = u(1.0, 25.0);
            v[33] = u(0.0, 0.1);
            v[34] = u(0.04, 0.08);
            (v[37], v[38], v[39], v[40]) = (serror, serror, rerror, rerror);
            (["tcp", service, if s0 { "S0" } else { "REJ" }], "neptune.")
        }
        Family::Probe => {
            v[0] = if u(0.0, 1.0) < 0.8 { 0.0 } else { u(1.0, 5.0) };
            v[4] = u(0.0, 50.0);
            v[5] = if u(0.0, 1.0) < 0.8 {
                0.0
            } else {
                u(0.0, 100.0)
            };
            v[6] = j.is_multiple_of(7) as u8 as f64;
            v[11] = j.is_multiple_of(3) as u8 as f64;
            v[21] = j.is_multiple_of(5) as u8 as f64;
            v[22] = u(1.0, 10.0);
            v[23] = u(1.0, 10.0);
            v[26] = u(0.5, 1.0);
            v[27] = u(0.5, 1.0);
            v[28] = u(0.0, 0.3);
            v[29] = u(0.5, 1.0);
            v[31] = u(1.0, 255.0);
            v[32] = u(1.0, 20.0);
            v[33] = u(0.0, 0.2);
            v[34] = u(0.5, 1.0);
            v[35] = u(0.5, 1.0);
            v[39] = u(0.3, 1.0);
            v[40] = u(0.3, 1.0);
            let cat = [
                protocols[j % protocols.len()],
                services[j % services.len()],
                flags[j % flags.len()],
            ];
            (cat, ["satan.", "ipsweep.", "portsweep.", "nmap."][j % 4])
        }
    };
    let mut fields: Vec<String> = v
        .iter()
        .enumerate()
        .map(|(c, x)| match c {
            1..=3 => cat[c - 1].to_string(),
            _ if is_rate(c) => format!("{x:.2}"),
            _ => format!("{}", x.round() as i64),
        })
        .collect();
    fields.push(label.to_string());
    fields.join(",")
}

impl StandIn for KddSpec {
    fn dir_name(&self) -> String {
        format!("kdd99-{VERSION}-{}-s{}", self.rows, self.seed)
    }

    fn write(&self, dir: &Path) -> Result<()> {
        check!(
            self.rows >= 20,
            "KDD99 stand-in: {} rows, need 20",
            self.rows
        );
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let n = self.rows;
        let (normal, smurf, neptune) = (n * 3 / 10, n * 315 / 1000, n * 245 / 1000);
        let mut families = vec![Family::Normal; normal];
        families.extend(std::iter::repeat_n(Family::Smurf, smurf));
        families.extend(std::iter::repeat_n(Family::Neptune, neptune));
        families.extend(std::iter::repeat_n(
            Family::Probe,
            n - normal - smurf - neptune,
        ));
        families.shuffle(&mut rng);
        let mut text = String::with_capacity(n * 160);
        let mut probes = 0;
        for f in families {
            text.push_str(&kdd_line(f, probes, &mut rng));
            text.push('\n');
            probes += (f == Family::Probe) as usize;
        }
        write_file(dir, kdd::FILE, &gzip(text.as_bytes(), 6))
    }
}

/// The default KDD99 stand-in under the Table 3 protocol, via [`parse_kdd`]
/// and [`kdd99_split`].
pub fn kdd99(root: &Path, opts: &KddOptions) -> Result<Kdd99> {
    let dir = ensure(root, &KddSpec::default())?;
    kdd99_split(&parse_kdd(&dir.join(kdd::FILE))?, opts)
}

// ----------------------------------------------------------------- CelebA

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

/// JPEG-encodes faces `range` of the set seeded by `seed` as zip members
/// `img_align_celeba/NNNNNN.jpg`. tch writes JPEG (stb, quality 90) only to
/// a file, so each call uses its own scratch file in `dir`.
fn encode_faces(
    dir: &Path,
    seed: u64,
    range: std::ops::Range<usize>,
) -> Result<Vec<(String, Vec<u8>)>> {
    let scratch = dir.join(format!(".scratch-{}.jpg", range.start));
    let mut members = Vec::with_capacity(range.len());
    for i in range {
        let image = Tensor::from_slice(&render_face(seed, i))
            .view([FACE_H as i64, FACE_W as i64, 3])
            .permute([2, 0, 1]);
        tch::vision::image::save(&image, &scratch)
            .with_context(|| format!("encoding {}", scratch.display()))?;
        members.push((
            format!("{ZIP_DIR}/{:06}.jpg", i + 1),
            std::fs::read(&scratch)?,
        ));
    }
    let _ = std::fs::remove_file(&scratch);
    Ok(members)
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
                .map(|a| s.spawn(move || encode_faces(dir, self.seed, a..n.min(a + chunk))))
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
    let (images, partition) = build_from_files(&dir.join(ZIP), &dir.join(PARTITION), false)?;
    ImageSet::new(images, partition)
}
