//! The IDX format of MNIST and Fashion-MNIST, gzipped or raw.
//!
//! Layout: two zero bytes, a type byte (only `0x08`, unsigned byte, is
//! used by these data sets), the number of dimensions, one big-endian u32
//! per dimension, then the data in C order. The magic number, the
//! dimensions and the exact data length are all checked.

use crate::hash::read_maybe_gzip;
use anyhow::{bail, Context, Result};
use ndarray::Array4;
use std::path::Path;

/// A parsed IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idx {
    /// Dimensions, outermost first.
    pub dims: Vec<usize>,
    /// The data, C order.
    pub data: Vec<u8>,
}

/// Parses IDX bytes; `origin` names them in errors.
pub fn parse_idx(bytes: &[u8], origin: &str) -> Result<Idx> {
    if bytes.len() < 4 {
        bail!(
            "{origin}: {} bytes, too short for the 4-byte IDX magic number",
            bytes.len()
        );
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        bail!(
            "{origin}: bad IDX magic number at offset 0: {:02x} {:02x} {:02x} {:02x}, expected 00 00 08 <ndim>",
            bytes[0],
            bytes[1],
            bytes[2],
            bytes[3]
        );
    }
    if bytes[2] != 0x08 {
        bail!(
            "{origin}: IDX data type 0x{:02x} at offset 2, expected 0x08 (unsigned byte)",
            bytes[2]
        );
    }
    let ndim = bytes[3] as usize;
    if ndim == 0 {
        bail!("{origin}: IDX header at offset 3 gives 0 dimensions");
    }
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        bail!(
            "{origin}: truncated IDX header: {ndim} dimensions need {header} bytes, the file has {}",
            bytes.len()
        );
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let want = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= isize::MAX as usize);
    let Some(want) = want else {
        bail!("{origin}: IDX dimensions {dims:?} overflow");
    };
    let have = bytes.len() - header;
    if have != want {
        let what = if have < want { "truncated" } else { "too long" };
        bail!(
            "{origin}: {what}: dimensions {dims:?} need {want} data bytes from offset {header}, found {have}"
        );
    }
    Ok(Idx {
        dims,
        data: bytes[header..].to_vec(),
    })
}

/// Reads an IDX file (gzip detected from its first bytes).
pub fn read_idx(path: &Path) -> Result<Idx> {
    let bytes = read_maybe_gzip(path)?;
    parse_idx(&bytes, &path.display().to_string())
}

/// Images `[N, 1, H, W]` (uint8) from an IDX file of rank 3.
pub fn read_idx_images(path: &Path) -> Result<Array4<u8>> {
    let idx = read_idx(path)?;
    let [n, h, w] = idx.dims[..] else {
        bail!(
            "{}: image file has dimensions {:?}, expected 3 (count, rows, columns)",
            path.display(),
            idx.dims
        );
    };
    let shape = [n as usize, 1, h as usize, w as usize];
    Array4::from_shape_vec(shape, idx.data)
        .with_context(|| format!("{}: data do not fill {shape:?}", path.display()))
}

/// Labels (as int64) from an IDX file of rank 1, each below `classes`.
pub fn read_idx_labels(path: &Path, classes: u8) -> Result<Vec<i64>> {
    let idx = read_idx(path)?;
    if idx.dims.len() != 1 {
        bail!(
            "{}: label file has dimensions {:?}, expected 1",
            path.display(),
            idx.dims
        );
    }
    if let Some(i) = idx.data.iter().position(|&l| l >= classes) {
        bail!(
            "{}: label {} at data offset {} (file offset {}), expected below {classes}",
            path.display(),
            idx.data[i],
            i,
            i + 8
        );
    }
    Ok(idx.data.iter().map(|&l| i64::from(l)).collect())
}
