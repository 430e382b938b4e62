//! Streaming sha256 + md5, and reading files that may be gzipped, with
//! errors that name the file and the byte offset.

use anyhow::{bail, Context, Result};
use flate2::read::MultiGzDecoder;
use md5::Md5;
use sha2::{Digest, Sha256};
use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::rc::Rc;

/// The two gzip magic bytes.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// sha256 and md5 of a byte stream, updated as it arrives.
#[derive(Clone, Default)]
pub struct Hasher {
    sha256: Sha256,
    md5: Md5,
    len: u64,
}

/// Finished digests (lowercase hex) and the byte count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    /// sha256, lowercase hex.
    pub sha256: String,
    /// md5, lowercase hex.
    pub md5: String,
    /// Byte count.
    pub len: u64,
}

impl Hasher {
    /// An empty hasher.
    pub fn new() -> Hasher {
        Hasher::default()
    }

    /// Adds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.sha256.update(bytes);
        self.md5.update(bytes);
        self.len += bytes.len() as u64;
    }

    /// Bytes seen so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True before any byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digests.
    pub fn finish(self) -> Digests {
        Digests {
            sha256: hex::encode(self.sha256.finalize()),
            md5: hex::encode(self.md5.finalize()),
            len: self.len,
        }
    }

    /// Reads `r` to its end into the hasher.
    pub fn consume(&mut self, mut r: impl Read) -> io::Result<()> {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match r.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => self.update(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Digests of a file's bytes.
pub fn hash_file(path: &Path) -> Result<Digests> {
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Hasher::new();
    h.consume(BufReader::new(f))
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(h.finish())
}

/// Digests of the decompressed content of a gzip file.
pub fn hash_gzip_content(path: &Path) -> Result<Digests> {
    let mut h = Hasher::new();
    h.consume(GzReader::open(path)?)?;
    Ok(h.finish())
}

/// True when the file starts with the gzip magic bytes.
pub fn is_gzip(path: &Path) -> Result<bool> {
    let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        let n = f
            .read(&mut magic[got..])
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            return Ok(false);
        }
        got += n;
    }
    Ok(magic == GZIP_MAGIC)
}

/// Counts the bytes read through it.
struct Counting<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// A gzip file being decompressed; its read errors name the file and the
/// compressed and decompressed offsets.
pub struct GzReader {
    tracker: GzTracker,
    inner: MultiGzDecoder<Counting<BufReader<File>>>,
}

/// Where a [`GzReader`] is; usable while the reader is borrowed elsewhere.
#[derive(Clone)]
pub struct GzTracker {
    path: String,
    compressed: Rc<Cell<u64>>,
    produced: Rc<Cell<u64>>,
}

impl GzTracker {
    /// An error naming the file and the current offsets.
    pub fn error(&self, e: impl std::fmt::Display) -> anyhow::Error {
        anyhow::anyhow!(
            "{}: {e} (near compressed byte {}, decompressed byte {})",
            self.path,
            self.compressed.get(),
            self.produced.get()
        )
    }
}

impl GzReader {
    /// Opens a gzip file.
    pub fn open(path: &Path) -> Result<GzReader> {
        let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let tracker = GzTracker {
            path: path.display().to_string(),
            compressed: Rc::new(Cell::new(0)),
            produced: Rc::new(Cell::new(0)),
        };
        let counting = Counting {
            inner: BufReader::new(f),
            count: tracker.compressed.clone(),
        };
        Ok(GzReader {
            tracker,
            inner: MultiGzDecoder::new(counting),
        })
    }

    /// A handle that reports the offsets later.
    pub fn tracker(&self) -> GzTracker {
        self.tracker.clone()
    }
}

/// Read errors name the file and the offsets.
impl Read for GzReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                let p = &self.tracker.produced;
                p.set(p.get() + n as u64);
                Ok(n)
            }
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!(
                    "{:#}",
                    self.tracker
                        .error(format!("corrupt or truncated gzip data: {e}"))
                ),
            )),
        }
    }
}

/// The whole content of a file, decompressed when it starts with the gzip
/// magic bytes.
pub fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>> {
    if is_gzip(path)? {
        let mut out = Vec::new();
        GzReader::open(path)?.read_to_end(&mut out)?;
        if out.is_empty() {
            bail!("{}: empty gzip stream", path.display());
        }
        Ok(out)
    } else {
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))
    }
}
