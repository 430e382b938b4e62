//! CelebA aligned faces at 64x64.
//!
//! What to place where: CelebA's host needs a browser, so download
//! `img_align_celeba.zip` (do not unzip) and `list_eval_partition.txt`
//! (see `data-manifests/celeba.yaml` for sizes, hashes and links), put both
//! in one folder DIR and run `meg data import celeba --from DIR`.
//!
//! Each 178x218 JPEG is center-cropped to 178x178 (rows 20..198, as
//! torchvision's `CenterCrop(178)`) and resized to 64x64 with antialiased
//! bilinear interpolation (libtorch's `upsample_bilinear2d_aa`), rounded to
//! uint8: within one grey level of torchvision's `CenterCrop(178)` +
//! `Resize(64)` on PIL images (golden test `datasets_celeba64`). JPEGs are
//! decoded by the stb decoder built into torch-sys, which may differ from
//! libjpeg by a grey level here and there. Decoding all 202,599 images takes
//! minutes, so the result is kept in the cache as `celeba/aligned64.pt`
//! with its sha256 in `aligned64.pt.sha256`, and rebuilt when either is
//! missing or they disagree.

use crate::hash::hash_file;
use crate::images::ImageSet;
use crate::manifest::Manifest;
use crate::store::{part_path, record_path, Store};
use anyhow::{bail, Context, Result};
use indicatif::ProgressBar;
use meg_nn::io::write_atomic;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use tch::{Kind, Tensor};

/// Archive of the aligned JPEGs.
pub const ZIP: &str = "img_align_celeba.zip";
/// The official partition list.
pub const PARTITION: &str = "list_eval_partition.txt";
/// Folder of the JPEGs inside the archive.
pub const ZIP_DIR: &str = "img_align_celeba";
/// The derived 64x64 tensor file in the cache.
pub const DERIVED: &str = "aligned64.pt";
/// Side of the center crop.
pub const CROP: i64 = 178;
/// Output side.
pub const SIDE: i64 = 64;

/// Which part of the official partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CelebaSplit {
    /// Partition 0 (162,770 images).
    Train,
    /// Partition 1 (19,867).
    Valid,
    /// Partition 2 (19,962).
    Test,
    /// All 202,599.
    All,
}

/// Parses `list_eval_partition.txt`: lines `000001.jpg 0`; `origin` names
/// it in errors.
pub fn parse_partition(text: &str, origin: &str) -> Result<Vec<(String, u8)>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(name), Some(p), None) = (parts.next(), parts.next(), parts.next()) else {
            bail!(
                "{origin}: line {}: expected `IMAGE.jpg PARTITION`, found {line:?}",
                i + 1
            );
        };
        let p: u8 = p.parse().ok().filter(|p| *p <= 2).with_context(|| {
            format!("{origin}: line {}: partition {p:?} is not 0, 1 or 2", i + 1)
        })?;
        if name.contains('/') {
            bail!(
                "{origin}: line {}: {name:?} is not a plain file name",
                i + 1
            );
        }
        out.push((name.to_string(), p));
    }
    if out.is_empty() {
        bail!("{origin}: no entries");
    }
    Ok(out)
}

/// Center-crops a uint8 `[3, H, W]` image to `CROP`x`CROP` and resizes it to
/// uint8 `[3, SIDE, SIDE]`.
pub fn crop_resize(image: &Tensor) -> Result<Tensor> {
    Ok(resize_batch(&center_crop(image)?.unsqueeze(0))?.squeeze_dim(0))
}

fn center_crop(image: &Tensor) -> Result<Tensor> {
    let s = image.size();
    let [c, h, w] = s[..] else {
        bail!("image of shape {s:?}, expected [C, H, W]");
    };
    if c != 3 || h < CROP || w < CROP {
        bail!("image of shape {s:?}, expected 3 channels and at least {CROP}x{CROP}");
    }
    // torchvision: top = round((h - crop) / 2).
    let top = ((h - CROP) as f64 / 2.0).round() as i64;
    let left = ((w - CROP) as f64 / 2.0).round() as i64;
    Ok(image.narrow(1, top, CROP).narrow(2, left, CROP))
}

/// uint8 `[B, 3, CROP, CROP]` to uint8 `[B, 3, SIDE, SIDE]`.
fn resize_batch(crops: &Tensor) -> Result<Tensor> {
    Ok(crops
        .to_kind(Kind::Float)
        .f_internal_upsample_bilinear2d_aa([SIDE, SIDE], false, None, None)?
        .round()
        .clamp(0.0, 255.0)
        .to_kind(Kind::Uint8))
}

/// Decodes and shrinks the images of `entries` from the zip at `zip_path`
/// (members `img_align_celeba/NAME`), in order: uint8 `[N, 3, 64, 64]`.
pub fn build_images(zip_path: &Path, names: &[String], bar: &ProgressBar) -> Result<Tensor> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let chunk = names.len().div_ceil(workers).max(1);
    let parts: Vec<Result<Tensor>> = std::thread::scope(|s| {
        let handles: Vec<_> = names
            .chunks(chunk)
            .map(|part| s.spawn(move || build_chunk(zip_path, part, bar)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a CelebA worker panicked")))
            })
            .collect()
    });
    let parts = parts.into_iter().collect::<Result<Vec<_>>>()?;
    Ok(Tensor::cat(&parts, 0))
}

fn build_chunk(zip_path: &Path, names: &[String], bar: &ProgressBar) -> Result<Tensor> {
    let f = File::open(zip_path).with_context(|| format!("opening {}", zip_path.display()))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(f))
        .with_context(|| format!("{}: not a readable zip archive", zip_path.display()))?;
    let mut out = Vec::new();
    let mut crops = Vec::new();
    let mut bytes = Vec::new();
    for name in names {
        let member = format!("{ZIP_DIR}/{name}");
        bytes.clear();
        zip.by_name(&member)
            .with_context(|| format!("{}: member {member}", zip_path.display()))?
            .read_to_end(&mut bytes)
            .with_context(|| format!("{}: reading member {member}", zip_path.display()))?;
        let image = tch::vision::image::load_from_memory(&bytes)
            .with_context(|| format!("{}: decoding {member}", zip_path.display()))?;
        crops.push(
            center_crop(&image).with_context(|| format!("{}: {member}", zip_path.display()))?,
        );
        if crops.len() == 256 {
            out.push(resize_batch(&Tensor::stack(&crops, 0))?);
            crops.clear();
        }
        bar.inc(1);
    }
    if !crops.is_empty() {
        out.push(resize_batch(&Tensor::stack(&crops, 0))?);
    }
    Ok(Tensor::cat(&out, 0))
}

/// Builds the 64x64 set from the two source files: images uint8
/// `[N, 3, 64, 64]` in partition-list order and partitions int64 `[N]`.
pub fn build_from_files(
    zip_path: &Path,
    partition_path: &Path,
    progress: bool,
) -> Result<(Tensor, Tensor)> {
    let text = std::fs::read_to_string(partition_path)
        .with_context(|| format!("reading {}", partition_path.display()))?;
    let entries = parse_partition(&text, &partition_path.display().to_string())?;
    let names: Vec<String> = entries.iter().map(|(n, _)| n.clone()).collect();
    let bar = if progress {
        ProgressBar::new(names.len() as u64).with_message("CelebA 64x64")
    } else {
        ProgressBar::hidden()
    };
    let images = build_images(zip_path, &names, &bar)?;
    bar.finish_and_clear();
    let parts: Vec<i64> = entries.iter().map(|(_, p)| *p as i64).collect();
    Ok((images, Tensor::from_slice(&parts)))
}

/// The derived file if it is present and matches its recorded sha256.
fn load_derived(path: &Path) -> Result<Option<(Tensor, Tensor)>> {
    let (Ok(recorded), true) = (std::fs::read_to_string(record_path(path)), path.is_file()) else {
        return Ok(None);
    };
    if hash_file(path)?.sha256 != recorded.trim() {
        return Ok(None);
    }
    let named = Tensor::load_multi(path).with_context(|| format!("loading {}", path.display()))?;
    let get = |k: &str| {
        named
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, t)| t.shallow_clone())
            .with_context(|| format!("{}: no tensor {k:?}", path.display()))
    };
    Ok(Some((get("images")?, get("partition")?)))
}

/// CelebA 64x64 from the cache (building the derived file on first use).
/// Labels hold the partition (0 train, 1 valid, 2 test).
pub fn load_celeba64(store: &Store, split: CelebaSplit, progress: bool) -> Result<ImageSet> {
    let m = Manifest::builtin("celeba")?;
    let dir = store.dir(&m);
    let derived = dir.join(DERIVED);
    let (images, partition) = match load_derived(&derived)? {
        Some(t) => t,
        None => {
            let dir = store.require(&m)?;
            let (images, partition) =
                build_from_files(&dir.join(ZIP), &dir.join(PARTITION), progress)?;
            let part = part_path(&derived);
            Tensor::save_multi(&[("images", &images), ("partition", &partition)], &part)
                .with_context(|| format!("writing {}", part.display()))?;
            let sha = hash_file(&part)?.sha256;
            write_atomic(&record_path(&derived), format!("{sha}\n").as_bytes())?;
            std::fs::rename(&part, &derived)
                .with_context(|| format!("renaming {}", part.display()))?;
            (images, partition)
        }
    };
    let labels = partition.shallow_clone();
    let all = ImageSet::new(images, labels)?;
    let want = match split {
        CelebaSplit::All => return Ok(all),
        CelebaSplit::Train => 0,
        CelebaSplit::Valid => 1,
        CelebaSplit::Test => 2,
    };
    Ok(all.select(&partition.eq(want).nonzero().squeeze_dim(1)))
}
