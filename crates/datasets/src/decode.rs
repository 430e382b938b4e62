//! Image files to RGB bytes, exactly as PIL's `Image.open(path).convert("RGB")`
//! (what pytorch-fid and torchvision's image folders do):
//! - PNG (`image` crate): grey is replicated, alpha dropped, palettes expanded;
//!   16-bit colour keeps the high byte and 16-bit grey is clipped at 255, as PIL does.
//! - JPEG: libjpeg-turbo's decoder (via mozjpeg; default islow IDCT and fancy
//!   upsampling), the same code PIL uses, so pixels are identical. CMYK JPEGs are
//!   refused; a JPEG without its end-of-image marker (truncated) is an error.

use anyhow::{bail, Result};

/// An RGB image: interleaved bytes, row after row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgb {
    /// `height · width · 3` bytes.
    pub data: Vec<u8>,
    pub width: usize,
    pub height: usize,
}

/// Decodes a PNG or JPEG file's bytes (JPEG by its magic number).
pub fn decode_image(bytes: &[u8]) -> Result<Rgb> {
    if bytes.starts_with(&[0xFF, 0xD8]) {
        decode_jpeg(bytes)
    } else {
        decode_png(bytes)
    }
}

fn decode_png(data: &[u8]) -> Result<Rgb> {
    use image::DynamicImage as D;
    let img = image::load_from_memory_with_format(data, image::ImageFormat::Png)?;
    let (width, height) = (img.width() as usize, img.height() as usize);
    let data = match &img {
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
    Ok(Rgb {
        data,
        width,
        height,
    })
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
        let (width, height) = (d.width(), d.height());
        let data: Vec<u8> = d.read_scanlines()?;
        d.finish()?;
        Ok(Rgb {
            data,
            width,
            height,
        })
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

/// JPEG-encodes `image` (baseline libjpeg settings at `quality`), for the
/// synthetic CelebA stand-in.
pub fn encode_jpeg(image: &Rgb, quality: f32) -> Result<Vec<u8>> {
    std::panic::catch_unwind(|| -> std::io::Result<Vec<u8>> {
        let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
        c.set_size(image.width, image.height);
        c.set_quality(quality);
        let mut c = c.start_compress(Vec::new())?;
        c.write_scanlines(&image.data)?;
        c.finish()
    })
    .map_err(|_| {
        anyhow::anyhow!(
            "libjpeg failed to encode a {}x{} image",
            image.width,
            image.height
        )
    })?
    .map_err(Into::into)
}
