//! Image folders for FID and IS: PNG and JPEG files of any size, decoded to RGB
//! exactly as PIL's `Image.open(path).convert("RGB")` followed by torchvision's
//! `ToTensor()` (what pytorch-fid does):
//! - PNG (`image` crate): grey is replicated, alpha dropped, palettes expanded;
//!   16-bit colour keeps the high byte and 16-bit grey is clipped at 255, as PIL does.
//! - JPEG: libjpeg-turbo's decoder (via mozjpeg; default islow IDCT and fancy
//!   upsampling), the same code PIL uses, so pixels are identical. CMYK JPEGs are
//!   refused; a JPEG without its end-of-image marker (truncated) is an error.
//!
//! Values are `byte / 255` in float32.

use crate::inception::{resize_299, InceptionFid};
use anyhow::{bail, Context, Result};
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

/// Decodes one image to a float32 tensor `[3, H, W]` in [0, 1].
pub fn load_image(path: &Path) -> Result<Tensor> {
    let data = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let (rgb, w, h) = if data.starts_with(&[0xFF, 0xD8]) {
        decode_jpeg(&data)
    } else {
        decode_png(&data)
    }
    .with_context(|| format!("{}: cannot decode image", path.display()))?;
    Ok(Tensor::from_slice(&rgb)
        .view([h as i64, w as i64, 3])
        .permute([2, 0, 1])
        .contiguous()
        .to_kind(Kind::Float)
        / 255.0)
}

/// Interleaved RGB bytes, width, height.
type Rgb = (Vec<u8>, usize, usize);

fn decode_png(data: &[u8]) -> Result<Rgb> {
    use image::DynamicImage as D;
    let img = image::load_from_memory_with_format(data, image::ImageFormat::Png)?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let rgb = match &img {
        // PIL unpacks 16-bit colour to its high byte, and clips 16-bit grey ("I;16").
        D::ImageRgb16(b) => b.as_raw().iter().map(|v| (v >> 8) as u8).collect(),
        D::ImageRgba16(b) => b
            .as_raw()
            .chunks(4)
            .flat_map(|p| p[..3].iter().map(|v| (v >> 8) as u8))
            .collect(),
        D::ImageLuma16(b) => b
            .as_raw()
            .iter()
            .flat_map(|&v| [v.min(255) as u8; 3])
            .collect(),
        _ => img.to_rgb8().into_raw(),
    };
    Ok((rgb, w, h))
}

fn decode_jpeg(data: &[u8]) -> Result<Rgb> {
    // Entropy-coded data cannot hold FF D9, so a complete file has its
    // end-of-image marker near the end (a little trailing junk is tolerated).
    let tail = &data[data.len().saturating_sub(1024)..];
    if !tail.windows(2).any(|w| w == [0xFF, 0xD9]) {
        bail!("truncated JPEG (no end-of-image marker)");
    }
    // libjpeg reports fatal errors by unwinding (mozjpeg's error manager).
    let decoded = std::panic::catch_unwind(|| -> std::io::Result<Rgb> {
        let mut d = mozjpeg::Decompress::new_mem(data)?.rgb()?;
        let (w, h) = (d.width(), d.height());
        let px: Vec<u8> = d.read_scanlines()?;
        d.finish()?;
        Ok((px, w, h))
    });
    match decoded {
        Ok(r) => Ok(r?),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "libjpeg error".into());
            bail!("{msg}")
        }
    }
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
