//! Pillow's resize of 8-bit images with its bilinear filter
//! (`Image.resize(size, Image.BILINEAR)`, what torchvision's `Resize` does to
//! a PIL image), and torchvision's `CenterCrop`: the CelebA pipeline of the
//! paper's code, in host memory.
//!
//! Pillow resamples in two separable passes (horizontal, then vertical, each
//! rounded to 8 bits). Each output pixel is a weighted sum of the input
//! pixels under a triangle filter widened by the reduction factor
//! (antialiasing); the weights are normalized in float64, then converted to
//! fixed point with 22 fractional bits, and sums are rounded by adding half
//! a unit before the shift. The golden test (tests/golden/datasets_resample.py)
//! checks every byte against Pillow.

use crate::decode::Rgb;
use anyhow::{bail, Result};

/// Fractional bits of the fixed-point weights (Pillow's `PRECISION_BITS`).
const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Per output position: the first input position, and the fixed-point
/// weights of the inputs from there on.
struct Taps {
    start: Vec<usize>,
    weights: Vec<Vec<i32>>,
}

/// The bilinear (triangle) filter, support 1.
fn triangle(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 {
        1.0 - x
    } else {
        0.0
    }
}

/// The taps that take `input` positions to `output` positions.
fn taps(input: usize, output: usize) -> Taps {
    let scale = input as f64 / output as f64;
    let filterscale = scale.max(1.0);
    let support = filterscale; // the triangle's support (1) widened
    let mut start = Vec::with_capacity(output);
    let mut weights = Vec::with_capacity(output);
    for xx in 0..output {
        let center = (xx as f64 + 0.5) * scale;
        // C casts truncate toward zero; both arguments are >= -0.5 + 0.5 here
        // or clamped right after.
        let lo = ((center - support + 0.5) as i64).max(0) as usize;
        let hi = ((center + support + 0.5) as i64).min(input as i64) as usize;
        let w: Vec<f64> = (lo..hi)
            .map(|x| triangle((x as f64 - center + 0.5) / filterscale))
            .collect();
        let total: f64 = w.iter().sum();
        let fixed = w
            .iter()
            .map(|&k| {
                let k = if total != 0.0 { k / total } else { k };
                let v = k * f64::from(1u32 << PRECISION_BITS);
                (if k < 0.0 { v - 0.5 } else { v + 0.5 }) as i32
            })
            .collect();
        start.push(lo);
        weights.push(fixed);
    }
    Taps { start, weights }
}

/// A weighted sum in fixed point, rounded and clipped to a byte.
fn clip8(sum: i64) -> u8 {
    (sum >> PRECISION_BITS).clamp(0, 255) as u8
}

const HALF: i64 = 1 << (PRECISION_BITS - 1);

/// Resizes `image` to `width` x `height` as Pillow's bilinear resize does.
pub fn resize_bilinear(image: &Rgb, width: usize, height: usize) -> Result<Rgb> {
    let (w0, h0) = (image.width, image.height);
    if w0 == 0 || h0 == 0 || width == 0 || height == 0 {
        bail!("cannot resize a {w0}x{h0} image to {width}x{height}");
    }
    if image.data.len() != w0 * h0 * 3 {
        bail!(
            "{w0}x{h0} RGB image with {} bytes, expected {}",
            image.data.len(),
            w0 * h0 * 3
        );
    }
    let (tx, ty) = (taps(w0, width), taps(h0, height));
    // Horizontal pass over the rows the vertical pass reads (all, unless
    // the image is not resized horizontally).
    let mut mid = image.data.clone();
    let mut mid_w = w0;
    if width != w0 {
        mid = vec![0u8; h0 * width * 3];
        for y in 0..h0 {
            let row = &image.data[y * w0 * 3..(y + 1) * w0 * 3];
            for (xx, (&s, k)) in tx.start.iter().zip(&tx.weights).enumerate() {
                for c in 0..3 {
                    let sum = k.iter().enumerate().fold(HALF, |acc, (i, &kw)| {
                        acc + i64::from(row[(s + i) * 3 + c]) * i64::from(kw)
                    });
                    mid[(y * width + xx) * 3 + c] = clip8(sum);
                }
            }
        }
        mid_w = width;
    }
    if height == h0 {
        return Ok(Rgb {
            data: mid,
            width: mid_w,
            height: h0,
        });
    }
    let mut out = vec![0u8; height * mid_w * 3];
    for (yy, (&s, k)) in ty.start.iter().zip(&ty.weights).enumerate() {
        for x in 0..mid_w * 3 {
            let sum = k.iter().enumerate().fold(HALF, |acc, (i, &kw)| {
                acc + i64::from(mid[(s + i) * mid_w * 3 + x]) * i64::from(kw)
            });
            out[yy * mid_w * 3 + x] = clip8(sum);
        }
    }
    Ok(Rgb {
        data: out,
        width: mid_w,
        height,
    })
}

/// torchvision's `CenterCrop(side)`: the `side` x `side` window whose top
/// and left are `round((size - side) / 2)` (Python's round, ties to even).
pub fn center_crop(image: &Rgb, side: usize) -> Result<Rgb> {
    let (w, h) = (image.width, image.height);
    if w < side || h < side {
        bail!("image of {w}x{h}, expected at least {side}x{side}");
    }
    let top = ((h - side) as f64 / 2.0).round_ties_even() as usize;
    let left = ((w - side) as f64 / 2.0).round_ties_even() as usize;
    let mut data = Vec::with_capacity(side * side * 3);
    for y in top..top + side {
        data.extend_from_slice(&image.data[(y * w + left) * 3..(y * w + left + side) * 3]);
    }
    Ok(Rgb {
        data,
        width: side,
        height: side,
    })
}

/// Interleaved RGB rows to planes: `[3, H, W]` bytes.
pub fn to_planes(image: &Rgb) -> Vec<u8> {
    let n = image.width * image.height;
    let mut out = vec![0u8; n * 3];
    for (i, px) in image.data.chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * n + i] = px[c];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_and_a_flat_image_stays_flat() {
        for (i, o) in [(140, 64), (178, 64), (64, 140), (7, 3)] {
            let t = taps(i, o);
            for k in &t.weights {
                let s: i64 = k.iter().map(|&w| i64::from(w)).sum();
                // Each weight is rounded separately: off by at most half a unit each.
                assert!(
                    (s - (1 << PRECISION_BITS)).abs() <= k.len() as i64,
                    "{i}->{o}: {s}"
                );
            }
        }
        let flat = Rgb {
            data: [10u8, 200, 77].repeat(140 * 150),
            width: 140,
            height: 150,
        };
        let r = resize_bilinear(&flat, 64, 64).unwrap();
        assert!(r.data.chunks(3).all(|p| p == [10, 200, 77]));
    }

    #[test]
    fn center_crop_takes_the_middle() {
        let img = Rgb {
            data: (0..5 * 4).flat_map(|i| [i as u8; 3]).collect(),
            width: 5,
            height: 4,
        };
        // top = round(1/2) = 0 (ties to even), left = round(2/2) = 1.
        let c = center_crop(&img, 3).unwrap();
        let firsts: Vec<u8> = c.data.chunks(3).map(|p| p[0]).collect();
        assert_eq!(firsts, [1, 2, 3, 6, 7, 8, 11, 12, 13]);
        assert!(center_crop(&img, 6).is_err());
    }
}
