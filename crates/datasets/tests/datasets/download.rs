//! Downloads from a loopback server: good file, dropped connection then
//! resume, ignored Range, wrong bytes, 404 fallback, and the store's fetch.

use crate::fixtures::{bytes, file_yaml, manifest};
use crate::http::{Behaviour, Server};
use meg_datasets::download::{DownloadOptions, Downloader};
use meg_datasets::store::Outcome;
use meg_datasets::verify::{FileStatus, Matched};
use meg_datasets::Store;
use std::fs;

/// A quiet downloader that ignores proxies, with `opts` otherwise.
fn downloader_with(opts: DownloadOptions) -> Downloader {
    Downloader::new(DownloadOptions {
        progress: false,
        system_proxy: false,
        ..opts
    })
    .unwrap()
}

fn downloader() -> Downloader {
    downloader_with(DownloadOptions::default())
}

#[test]
fn good_file_is_downloaded_and_verified() {
    let body = bytes(300_000, 1);
    let srv = Server::start(vec![("/good.bin", body.clone(), Behaviour::Good)]);
    let m = manifest(
        "dl-good",
        &[file_yaml("good.bin", &body, &[srv.url("/good.bin")])],
    );
    let dir = tempfile::tempdir().unwrap();
    let (url, status) = downloader().fetch_file(&m.files[0], dir.path()).unwrap();
    assert_eq!(url, srv.url("/good.bin"));
    assert!(matches!(
        status,
        FileStatus::Ok {
            matched: Matched::Published,
            ..
        }
    ));
    assert_eq!(fs::read(dir.path().join("good.bin")).unwrap(), body);
    assert!(!dir.path().join("good.bin.part").exists());
    assert_eq!(srv.log().len(), 1);
    assert!(srv.log()[0].range.is_none());
}

#[test]
fn dropped_connection_is_resumed_with_range() {
    let body = bytes(200_001, 2);
    let srv = Server::start(vec![("/drop.bin", body.clone(), Behaviour::DropHalfOnce)]);
    let m = manifest(
        "dl-drop",
        &[file_yaml("drop.bin", &body, &[srv.url("/drop.bin")])],
    );
    let dir = tempfile::tempdir().unwrap();
    let dl = downloader();

    let err = dl.fetch_file(&m.files[0], dir.path()).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("connection broke"), "{msg}");
    assert!(msg.contains(&srv.url("/drop.bin")), "{msg}");
    assert!(!dir.path().join("drop.bin").exists());
    let part = dir.path().join("drop.bin.part");
    assert_eq!(fs::metadata(&part).unwrap().len(), (body.len() / 2) as u64);

    let (_, status) = dl.fetch_file(&m.files[0], dir.path()).unwrap();
    assert!(status.is_ok());
    assert_eq!(fs::read(dir.path().join("drop.bin")).unwrap(), body);
    assert!(!part.exists());
    let log = srv.log();
    assert_eq!(log.len(), 2);
    assert_eq!(
        log[1].range.as_deref(),
        Some(format!("bytes={}-", body.len() / 2).as_str())
    );
}

#[test]
fn server_ignoring_range_restarts_from_zero() {
    let body = bytes(100_000, 3);
    let srv = Server::start(vec![("/norange.bin", body.clone(), Behaviour::IgnoreRange)]);
    let m = manifest(
        "dl-norange",
        &[file_yaml("norange.bin", &body, &[srv.url("/norange.bin")])],
    );
    let dir = tempfile::tempdir().unwrap();
    // A stale partial file of wrong bytes: appending to it would fail the hash.
    fs::write(dir.path().join("norange.bin.part"), bytes(40_000, 99)).unwrap();
    let (_, status) = downloader().fetch_file(&m.files[0], dir.path()).unwrap();
    assert!(status.is_ok());
    assert_eq!(fs::read(dir.path().join("norange.bin")).unwrap(), body);
    assert_eq!(srv.log()[0].range.as_deref(), Some("bytes=40000-"));
}

#[test]
fn wrong_bytes_fail_the_hash_and_leave_nothing() {
    let body = bytes(50_000, 4);
    let wrong = bytes(50_000, 5);
    let srv = Server::start(vec![("/wrong.bin", wrong, Behaviour::Good)]);
    let m = manifest(
        "dl-wrong",
        &[file_yaml("wrong.bin", &body, &[srv.url("/wrong.bin")])],
    );
    let dir = tempfile::tempdir().unwrap();
    let err = downloader()
        .fetch_file(&m.files[0], dir.path())
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("CORRUPT"), "{msg}");
    assert!(msg.contains(&m.files[0].sha256.clone().unwrap()), "{msg}");
    assert!(!dir.path().join("wrong.bin").exists());
    assert!(!dir.path().join("wrong.bin.part").exists());
}

#[test]
fn not_found_falls_back_to_the_next_mirror() {
    let body = bytes(10_000, 6);
    let srv = Server::start(vec![
        ("/missing.bin", Vec::new(), Behaviour::NotFound),
        ("/mirror2.bin", body.clone(), Behaviour::Good),
    ]);
    let urls = [srv.url("/missing.bin"), srv.url("/mirror2.bin")];
    let m = manifest("dl-404", &[file_yaml("f.bin", &body, &urls)]);
    let dir = tempfile::tempdir().unwrap();
    let (url, _) = downloader().fetch_file(&m.files[0], dir.path()).unwrap();
    assert_eq!(url, urls[1]);
    assert_eq!(fs::read(dir.path().join("f.bin")).unwrap(), body);
    let paths: Vec<String> = srv.log().into_iter().map(|l| l.path).collect();
    assert_eq!(paths, ["/missing.bin", "/mirror2.bin"]);
}

#[test]
fn all_mirrors_failing_gives_one_error_listing_each() {
    let body = bytes(1_000, 7);
    let srv = Server::start(vec![
        ("/a.bin", Vec::new(), Behaviour::NotFound),
        ("/b.bin", bytes(1_000, 8), Behaviour::Good),
    ]);
    let urls = [srv.url("/a.bin"), srv.url("/b.bin")];
    let m = manifest("dl-all", &[file_yaml("f.bin", &body, &urls)]);
    let dir = tempfile::tempdir().unwrap();
    let msg = format!(
        "{:#}",
        downloader()
            .fetch_file(&m.files[0], dir.path())
            .unwrap_err()
    );
    assert!(msg.contains(&format!("{}: HTTP 404", urls[0])), "{msg}");
    assert!(msg.contains(&format!("{}: CORRUPT", urls[1])), "{msg}");
    assert!(!dir.path().join("f.bin").exists());
}

#[test]
fn store_fetch_replaces_a_corrupt_file_and_skips_good_ones() {
    let a = bytes(20_000, 9);
    let b = bytes(30_000, 10);
    let srv = Server::start(vec![
        ("/a.bin", a.clone(), Behaviour::Good),
        ("/b.bin", b.clone(), Behaviour::Good),
    ]);
    let m = manifest(
        "dl-store",
        &[
            file_yaml("a.bin", &a, &[srv.url("/a.bin")]),
            file_yaml("b.bin", &b, &[srv.url("/b.bin")]),
        ],
    );
    let root = tempfile::tempdir().unwrap();
    let store = Store::at(root.path());
    let dir = store.dir(&m);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("a.bin"), &a).unwrap();
    fs::write(dir.join("b.bin"), b"not the published bytes").unwrap();
    assert!(matches!(
        store.check(&m, &m.files[1]).unwrap(),
        FileStatus::Corrupt { .. }
    ));
    let done = store.fetch(&m, &downloader()).unwrap();
    assert_eq!(done[0], ("a.bin".to_string(), Outcome::AlreadyPresent));
    assert_eq!(
        done[1],
        ("b.bin".to_string(), Outcome::Downloaded(srv.url("/b.bin")))
    );
    assert_eq!(fs::read(dir.join("b.bin")).unwrap(), b);
    assert!(store.status(&m).unwrap().is_ready());
    // Only b was requested.
    assert_eq!(srv.log().len(), 1);
}

#[test]
fn prefix_only_file_records_its_full_hash_on_first_fetch() {
    let body = bytes(5_000, 11);
    let (sha, _) = crate::fixtures::digests(&body);
    let srv = Server::start(vec![("/w.pth", body.clone(), Behaviour::Good)]);
    let text = format!(
        "name: dl-prefix\ntitle: t\nlicense: l\ncitation: c\nfiles:\n  - name: w.pth\n    urls: [{}]\n    size: {}\n    sha256_prefix: {}\n    source: test\n",
        srv.url("/w.pth"),
        body.len(),
        &sha[..8]
    );
    let m = meg_datasets::Manifest::parse(&text, "prefix manifest").unwrap();
    let root = tempfile::tempdir().unwrap();
    let store = Store::at(root.path());
    store.fetch(&m, &downloader()).unwrap();
    let dir = store.dir(&m);
    assert_eq!(
        fs::read_to_string(dir.join("w.pth.sha256")).unwrap().trim(),
        sha
    );
    assert!(store.check(&m, &m.files[0]).unwrap().is_ok());
    // A recorded hash that disagrees makes the file corrupt even though the
    // prefix and size match.
    let other = format!("{}{}", &sha[..8], "0".repeat(56));
    fs::write(dir.join("w.pth.sha256"), other).unwrap();
    assert!(matches!(
        store.check(&m, &m.files[0]).unwrap(),
        FileStatus::Corrupt { .. }
    ));
    // fetch replaces it and records the hash again.
    store.fetch(&m, &downloader()).unwrap();
    assert!(store.check(&m, &m.files[0]).unwrap().is_ok());
}

#[test]
fn manual_data_set_fetch_prints_its_instructions() {
    let body = bytes(100, 12);
    let mut text = String::from(
        "name: dl-manual\ntitle: t\nlicense: l\ncitation: c\nmanual: |\n  Put f.bin in DIR and run meg data import dl-manual --from DIR\nfiles:\n",
    );
    text.push_str(&file_yaml("f.bin", &body, &[]));
    let m = meg_datasets::Manifest::parse(&text, "manual manifest").unwrap();
    let root = tempfile::tempdir().unwrap();
    let store = Store::at(root.path());
    let msg = format!("{:#}", store.fetch(&m, &downloader()).unwrap_err());
    assert!(msg.contains("cannot be downloaded by a program"), "{msg}");
    assert!(
        msg.contains("meg data import dl-manual --from DIR"),
        "{msg}"
    );
    assert_eq!(
        meg_datasets::store::fix_command(&m),
        "meg data import dl-manual --from DIR"
    );
}

/// Gives up on a silent server after 1 s, and retries once.
fn impatient() -> Downloader {
    downloader_with(DownloadOptions {
        stall_timeout: std::time::Duration::from_secs(1),
        stall_retries: 1,
        ..DownloadOptions::default()
    })
}

#[test]
fn a_server_that_never_answers_is_a_clear_error_not_a_hang() {
    let body = bytes(1000, 7);
    let srv = Server::start(vec![("/silent.bin", body.clone(), Behaviour::Stall)]);
    let m = manifest(
        "dl-silent",
        &[file_yaml("silent.bin", &body, &[srv.url("/silent.bin")])],
    );
    let dir = tempfile::tempdir().unwrap();
    let t0 = std::time::Instant::now();
    let msg = format!(
        "{:#}",
        impatient().fetch_file(&m.files[0], dir.path()).unwrap_err()
    );
    assert!(
        msg.contains(&srv.url("/silent.bin")) && msg.contains("no response within 1 s"),
        "{msg}"
    );
    // One attempt, cut after the 1 s stall timeout: a server that never
    // answered is not asked again.
    assert_eq!(srv.log().len(), 1);
    assert!(t0.elapsed() < std::time::Duration::from_secs(30));
    assert!(!dir.path().join("silent.bin").exists());
}

/// A host that sent nothing is skipped for the next files (a silent proxy
/// would otherwise cost every file the stall timeout at every mirror).
#[test]
fn a_silent_host_is_not_asked_again_for_other_files() {
    let body = bytes(1000, 9);
    let srv = Server::start(vec![
        ("/a.bin", body.clone(), Behaviour::Stall),
        ("/b.bin", body.clone(), Behaviour::Stall),
    ]);
    let m = manifest(
        "dl-silent-host",
        &[
            file_yaml("a.bin", &body, &[srv.url("/a.bin")]),
            file_yaml("b.bin", &body, &[srv.url("/b.bin")]),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let dl = impatient();
    assert!(dl.fetch_file(&m.files[0], dir.path()).is_err());
    let msg = format!("{:#}", dl.fetch_file(&m.files[1], dir.path()).unwrap_err());
    assert!(
        msg.contains(&srv.url("/b.bin")) && msg.contains("skipped"),
        "{msg}"
    );
    assert_eq!(srv.log().len(), 1, "{:?}", srv.log());
}

#[test]
fn a_body_that_stalls_is_retried_from_where_it_stopped() {
    let body = bytes(100_001, 8);
    let srv = Server::start(vec![("/stall.bin", body.clone(), Behaviour::StallHalfOnce)]);
    let m = manifest(
        "dl-stall",
        &[file_yaml("stall.bin", &body, &[srv.url("/stall.bin")])],
    );
    let dir = tempfile::tempdir().unwrap();
    impatient().fetch_file(&m.files[0], dir.path()).unwrap();
    assert_eq!(fs::read(dir.path().join("stall.bin")).unwrap(), body);
    let log = srv.log();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[1].range.as_deref(), Some("bytes=50000-"), "{log:?}");
}
