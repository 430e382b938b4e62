//! Sample grids: a batch of images tiled into one PNG.

use anyhow::{bail, Result};
use std::path::Path;

/// Tiles `n` images of `c` channels, `h x w` pixels (`pixels` row-major
/// `[n, c, h, w]`, values in [0, 1], clamped), `cols` per row with a 2-pixel
/// border, into the PNG `path`, each pixel drawn `scale` times. One channel
/// is drawn grey; three or more channels show the first three as RGB (so a
/// 3-digit StackedMNIST sample shows one digit per colour); two show channel
/// 0 as red and 1 as green.
pub fn image_grid_png(
    path: &Path,
    pixels: &[f32],
    dims: [usize; 4],
    cols: usize,
    scale: usize,
) -> Result<()> {
    let [n, c, h, w] = dims;
    if pixels.len() != n * c * h * w || n == 0 || c == 0 || cols == 0 || scale == 0 {
        bail!(
            "image grid: {} values do not make {n} images of shape [{c}, {h}, {w}] (cols {cols}, scale {scale})",
            pixels.len()
        );
    }
    let cols = cols.min(n);
    let rows = n.div_ceil(cols);
    let pad = 2;
    let (tw, th) = (w * scale + pad, h * scale + pad);
    let (gw, gh) = (cols * tw + pad, rows * th + pad);
    let mut img = image::RgbImage::from_pixel(gw as u32, gh as u32, image::Rgb([255, 255, 255]));
    let byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    for i in 0..n {
        let (gx, gy) = ((i % cols) * tw + pad, (i / cols) * th + pad);
        let at = |ch: usize, y: usize, x: usize| pixels[((i * c + ch) * h + y) * w + x];
        for y in 0..h {
            for x in 0..w {
                let rgb = match c {
                    1 => [byte(at(0, y, x)); 3],
                    2 => [byte(at(0, y, x)), byte(at(1, y, x)), 0],
                    _ => [byte(at(0, y, x)), byte(at(1, y, x)), byte(at(2, y, x))],
                };
                for dy in 0..scale {
                    for dx in 0..scale {
                        img.put_pixel(
                            (gx + x * scale + dx) as u32,
                            (gy + y * scale + dy) as u32,
                            image::Rgb(rgb),
                        );
                    }
                }
            }
        }
    }
    let mut bytes = std::io::Cursor::new(Vec::new());
    img.write_to(&mut bytes, image::ImageFormat::Png)?;
    meg_plumbing::io::write_atomic(path, bytes.get_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_images_in_rows_and_checks_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.png");
        // 3 grey 2x2 images, 2 per row: 2 rows.
        let px: Vec<f32> = (0..12).map(|i| i as f32 / 11.0).collect();
        image_grid_png(&p, &px, [3, 1, 2, 2], 2, 3).unwrap();
        let img = image::open(&p).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (2 * (6 + 2) + 2, 2 * (6 + 2) + 2));
        // First pixel of image 1 (value 4/11) at column 1's origin.
        let v = img.get_pixel(2 + 8, 2)[0];
        assert_eq!(v, (4.0f32 / 11.0 * 255.0).round() as u8);
        let err = image_grid_png(&p, &px[..11], [3, 1, 2, 2], 2, 1).unwrap_err();
        assert!(err.to_string().contains("11 values"), "{err}");
    }
}
