//! Manifests, the cache root, verify and import (no network).

use crate::fixtures::{bytes, file_yaml, gzip, manifest, write};
use meg_datasets::manifest::{Expected, BUILTIN};
use meg_datasets::store::{data_root_from, Outcome};
use meg_datasets::verify::{check_file, FileStatus, Matched};
use meg_datasets::{Manifest, Store};
use std::fs;
use std::path::PathBuf;

#[test]
fn cache_root_precedence() {
    let r = |a, b, c| data_root_from(a, b, c).unwrap();
    assert_eq!(r(Some("/d"), Some("/x"), Some("/h")), PathBuf::from("/d"));
    assert_eq!(
        r(None, Some("/x"), Some("/h")),
        PathBuf::from("/x/meg/data")
    );
    assert_eq!(
        r(Some(""), None, Some("/h")),
        PathBuf::from("/h/.cache/meg/data")
    );
    assert!(data_root_from(None, None, None).is_err());
}

#[test]
fn builtin_manifests_parse_with_sources() {
    let all = Manifest::all().unwrap();
    assert_eq!(all.len(), BUILTIN.len());
    for m in &all {
        assert!(
            !m.license.is_empty() && !m.citation.is_empty(),
            "{}",
            m.name
        );
        for f in &m.files {
            assert!(!f.source.trim().is_empty(), "{}/{}", m.name, f.name);
            assert!(!f.urls.is_empty(), "{}/{}", m.name, f.name);
        }
    }
    let mnist = Manifest::builtin("mnist").unwrap();
    assert_eq!(mnist.files.len(), 4);
    assert!(mnist
        .files
        .iter()
        .all(|f| f.md5.is_some() && f.size.is_some()));
    let fashion = Manifest::builtin("fashion-mnist").unwrap();
    assert!(fashion.files.iter().all(|f| f.content.is_some()));
    let inception = Manifest::builtin("inception-fid").unwrap();
    assert_eq!(inception.files[0].expected(), Expected::Prefix("6726825d"));
    assert!(Manifest::builtin("celeba").unwrap().manual.is_some());
    assert_eq!(
        Manifest::builtin("kdd99").unwrap().files[0].size,
        Some(2_144_903)
    );
    let err = format!("{:#}", Manifest::builtin("nope").unwrap_err());
    assert!(err.contains("mnist"), "{err}");
}

const GOOD: &str = "name: t\ntitle: t\nlicense: l\ncitation: c\nfiles:\n  - name: f.bin\n    urls: [http://127.0.0.1:9/f.bin]\n    size: 3\n    sha256: 039058c6f2c0cb492c533b0a4d14ef77cc0f78abccced5287d84a1a2011cfb81\n    source: test\n";

#[test]
fn manifest_with_a_missing_field_is_rejected_by_name() {
    assert!(Manifest::parse(GOOD, "good.yaml").is_ok());
    for (field, line) in [
        ("size", "    size: 3\n"),
        ("license", "license: l\n"),
        ("source", "    source: test\n"),
        ("urls", "    urls: [http://127.0.0.1:9/f.bin]\n"),
    ] {
        let text = GOOD.replace(line, "");
        let err = format!("{:#}", Manifest::parse(&text, "broken.yaml").unwrap_err());
        assert!(err.contains("broken.yaml"), "{err}");
        assert!(err.contains(&format!("missing field `{field}`")), "{err}");
        // Fields of a file entry are located; the top level has no line.
        assert!(
            field == "license" || err.contains("files[0]: missing") && err.contains("line 6"),
            "{err}"
        );
    }
    let no_hash = GOOD.replace(
        "    sha256: 039058c6f2c0cb492c533b0a4d14ef77cc0f78abccced5287d84a1a2011cfb81\n",
        "",
    );
    let err = format!(
        "{:#}",
        Manifest::parse(&no_hash, "nohash.yaml").unwrap_err()
    );
    assert!(
        err.contains("missing field `sha256`") && err.contains("f.bin"),
        "{err}"
    );
    let bad_hex = GOOD.replace("039058c6", "XYZ058c6");
    let err = format!("{:#}", Manifest::parse(&bad_hex, "hex.yaml").unwrap_err());
    assert!(err.contains("`sha256`") && err.contains("hex"), "{err}");
    // `size: null` is allowed (unpublished), a missing `size` is not.
    assert!(Manifest::parse(&GOOD.replace("size: 3", "size: null"), "n.yaml").is_ok());
}

#[test]
fn verify_reports_ok_missing_and_corrupt() {
    let a = bytes(1000, 1);
    let b = bytes(2000, 2);
    let m = manifest(
        "v",
        &[file_yaml("a.bin", &a, &[]), file_yaml("b.bin", &b, &[])],
    );
    let root = tempfile::tempdir().unwrap();
    let store = Store::at(root.path());
    let st = store.status(&m).unwrap();
    assert_eq!(st.summary(), "MISSING");
    assert_eq!(st.fix, "meg data fetch v");
    write(&store.dir(&m), "a.bin", &a);
    write(&store.dir(&m), "b.bin", &b[..1500]);
    let st = store.status(&m).unwrap();
    assert!(st.files[0].1.is_ok());
    match &st.files[1].1 {
        FileStatus::Corrupt { expected, actual } => {
            assert!(expected.contains(m.files[1].sha256.as_deref().unwrap()));
            assert!(expected.contains("2000 bytes"), "{expected}");
            assert!(actual.contains("1500 bytes"), "{actual}");
        }
        s => panic!("expected CORRUPT, got {s}"),
    }
    assert_eq!(st.summary(), "CORRUPT");
    let err = format!("{:#}", store.require(&m).unwrap_err());
    assert!(
        err.contains("b.bin: CORRUPT") && err.contains("meg data fetch v"),
        "{err}"
    );
    write(&store.dir(&m), "b.bin", &b);
    assert_eq!(store.require(&m).unwrap(), store.dir(&m));
}

#[test]
fn import_checks_before_copying_and_leaves_nothing_partial() {
    let a = bytes(4000, 3);
    let b = bytes(5000, 4);
    let m = manifest(
        "imp",
        &[file_yaml("a.bin", &a, &[]), file_yaml("b.bin", &b, &[])],
    );
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "a.bin", &a);
    write(src.path(), "b.bin", &bytes(5000, 5));
    let root = tempfile::tempdir().unwrap();
    let store = Store::at(root.path());
    let err = format!("{:#}", store.import(&m, src.path()).unwrap_err());
    assert!(
        err.contains("1 of 2 files") && err.contains("b.bin"),
        "{err}"
    );
    assert!(err.contains("does not match"), "{err}");
    let dir = store.dir(&m);
    assert!(dir.join("a.bin").exists());
    assert!(!dir.join("b.bin").exists() && !dir.join("b.bin.part").exists());

    write(src.path(), "b.bin", &b);
    let done = store.import(&m, src.path()).unwrap();
    assert_eq!(done[0].1, Outcome::AlreadyPresent);
    assert_eq!(done[1].1, Outcome::Imported);
    assert!(store.status(&m).unwrap().is_ready());

    let missing = tempfile::tempdir().unwrap();
    let other = Store::at(tempfile::tempdir().unwrap().path());
    let err = format!("{:#}", other.import(&m, missing.path()).unwrap_err());
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn recompressed_copy_matches_by_content() {
    let content = bytes(70_000, 6);
    let published = gzip(&content, 9);
    let recompressed = gzip(&content, 1);
    assert_ne!(published, recompressed);
    let (csha, _) = crate::fixtures::digests(&content);
    let mut entry = file_yaml("x.gz", &published, &[]);
    entry.push_str(&format!(
        "    content:\n      compression: gzip\n      size: {}\n      sha256: {csha}\n",
        content.len()
    ));
    let m = manifest("rc", &[entry]);
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "x.gz", &recompressed);
    assert!(matches!(
        check_file(&m.files[0], &src.path().join("x.gz"), None).unwrap(),
        FileStatus::Ok {
            matched: Matched::Content,
            ..
        }
    ));
    let root = tempfile::tempdir().unwrap();
    let store = Store::at(root.path());
    store.import(&m, src.path()).unwrap();
    assert!(store.status(&m).unwrap().is_ready());
    // Different content is corrupt, and says what content was expected.
    write(&store.dir(&m), "x.gz", &gzip(&bytes(70_000, 7), 1));
    match store.check(&m, &m.files[0]).unwrap() {
        FileStatus::Corrupt { expected, .. } => assert!(expected.contains(&csha), "{expected}"),
        s => panic!("expected CORRUPT, got {s}"),
    }
    // The uncompressed content under the .gz name: corrupt, and the status
    // says that it is the content, not gzip.
    write(&store.dir(&m), "x.gz", &content);
    match store.check(&m, &m.files[0]).unwrap() {
        FileStatus::Corrupt { actual, .. } => assert!(
            actual.contains("not gzip but the uncompressed content itself"),
            "{actual}"
        ),
        s => panic!("expected CORRUPT, got {s}"),
    }
    // A truncated gzip is corrupt, not an error.
    write(
        &store.dir(&m),
        "x.gz",
        &recompressed[..recompressed.len() / 2],
    );
    assert!(matches!(
        store.check(&m, &m.files[0]).unwrap(),
        FileStatus::Corrupt { .. }
    ));
}

#[test]
fn md5_is_checked_too() {
    let a = bytes(100, 8);
    let entry = file_yaml("a.bin", &a, &[]);
    let (_, md5) = crate::fixtures::digests(&a);
    let wrong = entry.replace(&md5, &"0".repeat(32));
    let m = manifest("md", &[wrong]);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.bin", &a);
    assert!(matches!(
        check_file(&m.files[0], &dir.path().join("a.bin"), None).unwrap(),
        FileStatus::Corrupt { .. }
    ));
    assert!(fs::metadata(dir.path().join("a.bin")).is_ok());
}
