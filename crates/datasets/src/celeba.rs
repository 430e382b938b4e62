//! CelebA aligned faces at 64x64.
//!
//! What to place where: CelebA's host needs a browser, so download
//! `img_align_celeba.zip` (do not unzip) and `list_eval_partition.txt`
//! (see `data-manifests/celeba.yaml` for sizes, hashes and links), put both
//! in one folder DIR and run `meg data import celeba --from DIR`.
//!
//! Each 178x218 JPEG is decoded by libjpeg-turbo as PIL decodes it
//! ([`crate::decode`]), center-cropped to 178x178 (rows 20..198, as
//! torchvision's `CenterCrop(178)`) and resized to 64x64 by Pillow's
//! bilinear resize ([`crate::resample`]): the same bytes as torchvision's
//! `CenterCrop(178)` + `Resize(64)` on PIL images (golden test
//! `datasets_celeba64`). Decoding all 202,599 images takes minutes, so the
//! result is kept in the cache as `celeba/aligned64.safetensors` with its
//! sha256 in `aligned64.safetensors.sha256`, and rebuilt when either is
//! missing or they disagree.

use crate::decode::{decode_image, Rgb};
use crate::hash::hash_file;
use crate::images::ImageSet;
use crate::manifest::Manifest;
use crate::resample::{center_crop, resize_bilinear, to_planes};
use crate::store::Store;
use crate::verify::record_path;
use anyhow::{bail, Context, Result};
use indicatif::ProgressBar;
use meg_plumbing::io::write_atomic;
use ndarray::Array4;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// Archive of the aligned JPEGs.
pub const ZIP: &str = "img_align_celeba.zip";
/// The official partition list.
pub const PARTITION: &str = "list_eval_partition.txt";
/// Folder of the JPEGs inside the archive.
pub const ZIP_DIR: &str = "img_align_celeba";
/// The derived 64x64 file in the cache (safetensors).
pub const DERIVED: &str = "aligned64.safetensors";
/// Side of the center crop.
pub const CROP: usize = 178;
/// Output side.
pub const SIDE: usize = 64;

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

/// Center-crops a decoded image to `CROP`x`CROP` and resizes it to
/// `SIDE`x`SIDE`: uint8 `[3, SIDE, SIDE]` bytes.
pub fn crop_resize(image: &Rgb) -> Result<Vec<u8>> {
    let crop = center_crop(image, CROP)?;
    Ok(to_planes(&resize_bilinear(&crop, SIDE, SIDE)?))
}

/// Decodes and shrinks the images `names` from the zip at `zip_path`
/// (members `img_align_celeba/NAME`), in order: uint8 `[N, 3, 64, 64]`.
pub fn build_images(zip_path: &Path, names: &[String], bar: &ProgressBar) -> Result<Array4<u8>> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let chunk = names.len().div_ceil(workers).max(1);
    let parts: Vec<Result<Vec<u8>>> = std::thread::scope(|s| {
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
    let pixels = parts.into_iter().collect::<Result<Vec<_>>>()?.concat();
    Ok(Array4::from_shape_vec((names.len(), 3, SIDE, SIDE), pixels)
        .expect("3·SIDE·SIDE bytes per image"))
}

fn build_chunk(zip_path: &Path, names: &[String], bar: &ProgressBar) -> Result<Vec<u8>> {
    let f = File::open(zip_path).with_context(|| format!("opening {}", zip_path.display()))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(f))
        .with_context(|| format!("{}: not a readable zip archive", zip_path.display()))?;
    let mut out = Vec::with_capacity(names.len() * 3 * SIDE * SIDE);
    let mut bytes = Vec::new();
    for name in names {
        let member = format!("{ZIP_DIR}/{name}");
        bytes.clear();
        zip.by_name(&member)
            .with_context(|| format!("{}: member {member}", zip_path.display()))?
            .read_to_end(&mut bytes)
            .with_context(|| format!("{}: reading member {member}", zip_path.display()))?;
        let image = decode_image(&bytes)
            .with_context(|| format!("{}: decoding {member}", zip_path.display()))?;
        out.extend(
            crop_resize(&image).with_context(|| format!("{}: {member}", zip_path.display()))?,
        );
        bar.inc(1);
    }
    Ok(out)
}

/// Builds the 64x64 set from the two source files: the images in
/// partition-list order, labelled with their partition.
pub fn build_from_files(
    zip_path: &Path,
    partition_path: &Path,
    progress: bool,
) -> Result<ImageSet> {
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
    ImageSet::new(images, entries.iter().map(|(_, p)| i64::from(*p)).collect())
}

/// The derived file's bytes: safetensors with uint8 `images` `[N, 3, 64, 64]`
/// and int64 `partition` `[N]`.
fn derived_bytes(set: &ImageSet) -> Result<Vec<u8>> {
    let partition: Vec<u8> = set.labels.iter().flat_map(|p| p.to_le_bytes()).collect();
    let images = set.images.as_slice().expect("standard layout");
    let views = [
        (
            "images",
            TensorView::new(Dtype::U8, set.images.shape().to_vec(), images)?,
        ),
        (
            "partition",
            TensorView::new(Dtype::I64, vec![set.len()], &partition)?,
        ),
    ];
    Ok(safetensors::serialize(views, &None)?)
}

/// The derived file if it is present and matches its recorded sha256.
fn load_derived(path: &Path) -> Result<Option<ImageSet>> {
    let (Ok(recorded), true) = (std::fs::read_to_string(record_path(path)), path.is_file()) else {
        return Ok(None);
    };
    if hash_file(path)?.sha256 != recorded.trim() {
        return Ok(None);
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let file = SafeTensors::deserialize(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: not a safetensors file: {e:?}", path.display()))?;
    let get = |k: &str, dtype: Dtype| {
        let t = file
            .tensor(k)
            .map_err(|e| anyhow::anyhow!("{}: no tensor {k:?}: {e:?}", path.display()))?;
        if t.dtype() != dtype {
            bail!(
                "{}: {k} is {:?}, expected {dtype:?}",
                path.display(),
                t.dtype()
            );
        }
        Ok((t.shape().to_vec(), t.data().to_vec()))
    };
    let (shape, pixels) = get("images", Dtype::U8)?;
    let (_, partition) = get("partition", Dtype::I64)?;
    let [n, c, h, w] = shape[..] else {
        bail!(
            "{}: images of shape {shape:?}, expected 4 dimensions",
            path.display()
        );
    };
    let labels = partition
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect();
    ImageSet::from_pixels(pixels, [n, c, h, w], labels)
        .with_context(|| format!("{}", path.display()))
        .map(Some)
}

/// CelebA 64x64 from the cache (building the derived file on first use).
/// Labels hold the partition (0 train, 1 valid, 2 test).
pub fn load_celeba64(store: &Store, split: CelebaSplit, progress: bool) -> Result<ImageSet> {
    let m = Manifest::builtin("celeba")?;
    let dir = store.dir(&m);
    let derived = dir.join(DERIVED);
    let all = match load_derived(&derived)? {
        Some(set) => set,
        None => {
            let dir = store.require(&m)?;
            let set = build_from_files(&dir.join(ZIP), &dir.join(PARTITION), progress)?;
            let bytes = derived_bytes(&set)?;
            let mut hasher = crate::hash::Hasher::new();
            hasher.update(&bytes);
            let sha = hasher.finish().sha256;
            // The record first: a crash between the two leaves a record
            // without its file, which is rebuilt.
            write_atomic(&record_path(&derived), format!("{sha}\n").as_bytes())?;
            write_atomic(&derived, &bytes)?;
            set
        }
    };
    let want = match split {
        CelebaSplit::All => return Ok(all),
        CelebaSplit::Train => 0,
        CelebaSplit::Valid => 1,
        CelebaSplit::Test => 2,
    };
    let keep: Vec<usize> = (0..all.len()).filter(|&i| all.labels[i] == want).collect();
    Ok(all.select(&keep))
}
