//! Image folders for FID and IS: PNG and JPEG files of any size, decoded to RGB
//! exactly as PIL's `Image.open(path).convert("RGB")` ([`meg_datasets::decode`])
//! followed by torchvision's `ToTensor()` (what pytorch-fid does): values are
//! `byte / 255` in float32.

use crate::inception::{resize_299, InceptionFid};
use anyhow::{bail, Context, Result};
use meg_datasets::decode::decode_image;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// File extensions read as images (lower case).
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg"];

/// The image files of `dir`, sorted by name. Hidden files and sub-folders are
/// skipped; any other file without a PNG/JPEG extension is an error, and so is
/// a folder with fewer than `min` images.
pub fn list_images(dir: &Path, min: usize) -> Result<Vec<PathBuf>> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("reading folder {}", dir.display()))?;
    let mut files = Vec::new();
    for e in entries {
        let path = e
            .with_context(|| format!("reading folder {}", dir.display()))?
            .path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with('.') || path.is_dir() {
            continue;
        }
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if !IMAGE_EXTENSIONS.contains(&ext.as_str()) {
            bail!(
                "{}: not an image file (expected {})",
                path.display(),
                IMAGE_EXTENSIONS.join(", ")
            );
        }
        files.push(path);
    }
    files.sort();
    if files.len() < min {
        bail!(
            "{}: found {} image(s), need at least {min}",
            dir.display(),
            files.len()
        );
    }
    Ok(files)
}

/// Decodes one image ([`meg_datasets::decode`]) to a float32 tensor
/// `[3, H, W]` in [0, 1].
pub fn load_image(path: &Path) -> Result<Tensor> {
    let data = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let rgb =
        decode_image(&data).with_context(|| format!("{}: cannot decode image", path.display()))?;
    Ok(Tensor::from_slice(&rgb.data)
        .view([rgb.height as i64, rgb.width as i64, 3])
        .permute([2, 0, 1])
        .contiguous()
        .to_kind(Kind::Float)
        / 255.0)
}

impl InceptionFid {
    /// pool3 features and IS logits (see [`InceptionFid::features_and_logits`])
    /// of every image in `dir` (at least `min` of them), `batch` images at a
    /// time.
    pub fn folder_features_and_logits(
        &self,
        dir: &Path,
        min: usize,
        batch: usize,
    ) -> Result<(Tensor, Tensor)> {
        self.files_features_and_logits(&list_images(dir, min)?, batch)
    }

    /// The same for a list of image files; each image is resized to 299x299 on
    /// its own, so sizes may differ.
    pub fn files_features_and_logits(
        &self,
        files: &[PathBuf],
        batch: usize,
    ) -> Result<(Tensor, Tensor)> {
        let mut feats = Vec::new();
        for chunk in files.chunks(batch.max(1)) {
            let imgs = chunk
                .iter()
                .map(|p| Ok(resize_299(&load_image(p)?.unsqueeze(0))))
                .collect::<Result<Vec<_>>>()?;
            feats.push(self.pool3(&Tensor::cat(&imgs, 0)));
        }
        let pool3 = Tensor::cat(&feats, 0);
        let logits = self.logits(&pool3, false);
        Ok((pool3, logits))
    }
}
