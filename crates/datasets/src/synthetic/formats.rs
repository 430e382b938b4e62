//! The file formats the stand-ins are written in (also the tests' fixtures):
//! IDX, gzip, tar.gz, zip, and atomic single-file writes.

use crate::images::{idx_files, Split};
use anyhow::{ensure as check, Context, Result};
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::{Cursor, Write};
use std::path::Path;

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
