//! Checksummed downloads with resume.
//!
//! Each file is streamed into `NAME.part` while its sha256 (and md5) are
//! computed; only when they match the manifest is it renamed to `NAME`. A
//! broken connection leaves the `.part` for the next attempt, which asks for
//! the rest with a `Range` request (and starts over when the server ignores
//! it). Mirrors are tried in order; when all fail, one error lists every
//! mirror's failure. The HTTP client has a connect timeout, TCP keep-alive
//! and a stall timeout (the response headers, and every read of the body,
//! must come within it; reqwest's blocking `timeout` is per operation, so a
//! large file that keeps arriving is never cut). A mirror whose body stalled
//! is retried (resuming from the `.part`) before the next one is tried; a
//! host that sent no response at all is not asked again by this downloader.

use crate::hash::{hash_file, Digests, Hasher};
use crate::manifest::FileSpec;
use crate::verify::{check_file, digests_match, part_path, FileStatus};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::blocking::{Client, Response};
use reqwest::header::{CONTENT_RANGE, RANGE};
use reqwest::StatusCode;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::Path;
use std::time::Duration;

/// How the HTTP client is set up.
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// Draw progress bars (bytes, rate) on stderr when it is a terminal.
    pub progress: bool,
    /// Honour `HTTP(S)_PROXY` / `NO_PROXY` from the environment.
    pub system_proxy: bool,
    /// Limit on establishing a connection (there is no total limit).
    pub connect_timeout: Duration,
    /// Longest wait for the response headers or for any data of the body.
    pub stall_timeout: Duration,
    /// Further attempts at a mirror that stalled, each resuming the `.part`.
    pub stall_retries: u32,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            progress: true,
            system_proxy: true,
            connect_timeout: Duration::from_secs(30),
            stall_timeout: Duration::from_secs(60),
            stall_retries: 2,
        }
    }
}

/// A blocking HTTP client that fetches manifest files.
pub struct Downloader {
    client: Client,
    progress: bool,
    stall_timeout: Duration,
    stall_retries: u32,
    /// Hosts that sent no response within the stall timeout: their other
    /// mirrors are skipped (through a silent proxy every file would wait
    /// out every mirror otherwise).
    silent_hosts: std::cell::RefCell<std::collections::BTreeSet<String>>,
}

/// Marks an attempt that ended because the server sent nothing for the
/// stall timeout: `Silent` before any response (the mirror's host is not
/// asked again), `Body` in the middle of the body (retried from the `.part`).
#[derive(Debug, PartialEq, Eq)]
enum Stalled {
    Silent,
    Body,
}

impl std::fmt::Display for Stalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stalled")
    }
}

impl std::error::Error for Stalled {}

/// `host:port` of a URL (the URL itself when it does not parse).
fn host_of(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!(
            "{}:{}",
            u.host_str().unwrap_or(""),
            u.port_or_known_default().unwrap_or(0)
        ),
        Err(_) => url.to_string(),
    }
}

/// Whether an I/O error of a body read is reqwest's per-read timeout.
fn is_read_timeout(e: &std::io::Error) -> bool {
    e.kind() == ErrorKind::TimedOut
        || e.get_ref()
            .and_then(|i| i.downcast_ref::<reqwest::Error>())
            .is_some_and(|r| r.is_timeout())
}

impl Downloader {
    /// A downloader with `opts`.
    pub fn new(opts: DownloadOptions) -> Result<Downloader> {
        let mut b = Client::builder()
            .user_agent(concat!("meg-datasets/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(opts.connect_timeout)
            .timeout(opts.stall_timeout)
            .tcp_keepalive(Duration::from_secs(30));
        if !opts.system_proxy {
            b = b.no_proxy();
        }
        Ok(Downloader {
            client: b.build().context("building the HTTP client")?,
            progress: opts.progress,
            stall_timeout: opts.stall_timeout,
            stall_retries: opts.stall_retries,
            silent_hosts: Default::default(),
        })
    }

    /// Downloads `spec` into folder `dir` (as `dir/NAME`, through
    /// `NAME.part`), trying its mirrors in order. Returns the URL that
    /// served it and how it matched.
    pub fn fetch_file(&self, spec: &FileSpec, dir: &Path) -> Result<(String, FileStatus)> {
        let dest = dir.join(&spec.name);
        let part = part_path(&dest);
        let mut failures = Vec::new();
        if spec.urls.is_empty() {
            failures.push("no mirror listed".to_string());
        }
        for url in &spec.urls {
            let host = host_of(url);
            if self.silent_hosts.borrow().contains(&host) {
                failures.push(format!(
                    "{url}: skipped: {host} sent no response within {} s earlier",
                    self.stall_timeout.as_secs_f64()
                ));
                continue;
            }
            let mut attempt = 0;
            let tried = loop {
                match self.try_url(url, spec, &part) {
                    Err(e)
                        if e.downcast_ref() == Some(&Stalled::Body)
                            && attempt < self.stall_retries =>
                    {
                        attempt += 1;
                        eprintln!(
                            "{url}: {e:#}; retrying ({attempt} of {})",
                            self.stall_retries
                        );
                    }
                    Err(e) if e.downcast_ref() == Some(&Stalled::Silent) => {
                        eprintln!("{url}: {e:#}; trying the next mirror");
                        self.silent_hosts.borrow_mut().insert(host);
                        break Err(e);
                    }
                    other => break other,
                }
            };
            let status = match tried {
                Ok(d) => match digests_match(spec, &d, None) {
                    Some(matched) => FileStatus::Ok {
                        matched,
                        sha256: d.sha256,
                    },
                    // Maybe a re-compressed copy with the pinned content.
                    None => check_file(spec, &part, None)?,
                },
                Err(e) => {
                    failures.push(format!("{url}: {e:#}"));
                    continue;
                }
            };
            if status.is_ok() {
                meg_plumbing::io::rename_into_place(&part, &dest)?;
                return Ok((url.clone(), status));
            }
            // Wrong bytes: resuming them would not help.
            let _ = fs::remove_file(&part);
            failures.push(format!("{url}: {status}"));
        }
        bail!(
            "{}: no mirror delivered the published file:\n  {}",
            spec.name,
            failures.join("\n  ")
        )
    }

    /// One attempt at one mirror; the digests of the complete `.part`.
    fn try_url(&self, url: &str, spec: &FileSpec, part: &Path) -> Result<Digests> {
        let mut have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        if let Some(size) = spec.size {
            if have > size {
                truncate(part)?;
                have = 0;
            } else if have == size && have > 0 {
                // Complete from an earlier run.
                return hash_file(part);
            }
        }
        let mut req = self.client.get(url);
        if have > 0 {
            req = req.header(RANGE, format!("bytes={have}-"));
        }
        // The URL is already in the message that lists mirrors.
        let resp = req.send().map_err(|e| {
            if e.is_timeout() {
                anyhow::Error::new(Stalled::Silent).context(format!(
                    "no response within {} s",
                    self.stall_timeout.as_secs_f64()
                ))
            } else {
                anyhow::Error::from(e.without_url())
            }
        })?;
        let start = match resp.status() {
            StatusCode::OK => 0, // a server that ignores Range sends it all
            StatusCode::PARTIAL_CONTENT => {
                let start = range_start(&resp)?;
                if start != have {
                    truncate(part)?;
                    bail!("server resumed at byte {start} when asked for byte {have}; partial file discarded");
                }
                start
            }
            StatusCode::RANGE_NOT_SATISFIABLE => {
                truncate(part)?;
                bail!("HTTP 416 for bytes {have}-; partial file discarded");
            }
            s => bail!("HTTP {s}"),
        };
        if let (Some(size), Some(len)) = (spec.size, resp.content_length()) {
            if start + len != size {
                bail!(
                    "server announces {} bytes in all, the manifest says {size}",
                    start + len
                );
            }
        }
        let (file, hasher) = if start == 0 {
            let f = File::create(part).with_context(|| format!("creating {}", part.display()))?;
            (f, Hasher::new())
        } else {
            let mut h = Hasher::new();
            let f = File::open(part).with_context(|| format!("opening {}", part.display()))?;
            h.consume(f)
                .with_context(|| format!("reading {}", part.display()))?;
            let f = OpenOptions::new()
                .append(true)
                .open(part)
                .with_context(|| format!("opening {}", part.display()))?;
            (f, h)
        };
        let total = spec.size.or(resp.content_length().map(|l| start + l));
        self.stream(resp, file, hasher, spec, part, total)
    }

    fn stream(
        &self,
        mut resp: Response,
        mut file: File,
        mut hasher: Hasher,
        spec: &FileSpec,
        part: &Path,
        total: Option<u64>,
    ) -> Result<Digests> {
        let bar = self.bar(&spec.name, hasher.len(), total);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = match resp.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if is_read_timeout(&e) => {
                    bar.abandon();
                    file.flush().ok();
                    return Err(anyhow::Error::new(Stalled::Body).context(format!(
                        "no data for {} s after {} bytes{}; kept them in {} to resume",
                        self.stall_timeout.as_secs_f64(),
                        hasher.len(),
                        total.map_or(String::new(), |t| format!(" of {t}")),
                        part.display()
                    )));
                }
                Err(e) => {
                    bar.abandon();
                    file.flush().ok();
                    bail!(
                        "connection broke after {} bytes{}: {e}; kept them in {} to resume",
                        hasher.len(),
                        total.map_or(String::new(), |t| format!(" of {t}")),
                        part.display()
                    );
                }
            };
            file.write_all(&buf[..n])
                .with_context(|| format!("writing {}", part.display()))?;
            hasher.update(&buf[..n]);
            bar.inc(n as u64);
            if spec.size.is_some_and(|s| hasher.len() > s) {
                bar.abandon();
                drop(file);
                let _ = fs::remove_file(part);
                bail!(
                    "server sent more than the {} published bytes",
                    hasher.len() - n as u64
                );
            }
        }
        file.sync_all()
            .with_context(|| format!("syncing {}", part.display()))?;
        bar.finish_and_clear();
        Ok(hasher.finish())
    }

    fn bar(&self, name: &str, at: u64, total: Option<u64>) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let (bar, template) = match total {
            Some(t) => (
                ProgressBar::new(t),
                "{msg} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            ),
            None => (
                ProgressBar::no_length(),
                "{msg} {spinner} {bytes} {bytes_per_sec}",
            ),
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.set_message(name.to_string());
        bar.set_position(at);
        bar
    }
}

/// Empties a partial file (creating it if need be).
fn truncate(part: &Path) -> Result<()> {
    File::create(part)
        .map(|_| ())
        .with_context(|| format!("truncating {}", part.display()))
}

/// The first byte of a 206 answer, from `Content-Range: bytes A-B/T`.
fn range_start(resp: &Response) -> Result<u64> {
    let v = resp
        .headers()
        .get(CONTENT_RANGE)
        .context("HTTP 206 without Content-Range")?
        .to_str()
        .context("unreadable Content-Range")?;
    v.strip_prefix("bytes ")
        .and_then(|r| r.split('-').next())
        .and_then(|a| a.trim().parse().ok())
        .with_context(|| format!("malformed Content-Range {v:?}"))
}
