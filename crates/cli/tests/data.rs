//! `meg data` run as a binary on a temporary MEG_DATA_DIR: list, verify,
//! import, exit codes, and a corrupt file reported as CORRUPT.

use std::path::Path;
use std::process::{Command, Output};

fn meg(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meg"))
        .args(args)
        .env("MEG_DATA_DIR", data_dir)
        .output()
        .expect("running meg")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn list_and_unknown_names() {
    let cache = tempfile::tempdir().unwrap();
    let o = meg(cache.path(), &["data", "list"]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    for name in [
        "mnist",
        "fashion-mnist",
        "cifar10",
        "kdd99",
        "celeba",
        "inception-fid",
    ] {
        assert!(t.contains(name), "{t}");
    }
    assert!(t.contains(&cache.path().display().to_string()), "{t}");
    let o = meg(cache.path(), &["data", "verify", "no-such-set"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("no data set named"), "{}", text(&o));
}

#[test]
fn verify_reports_missing_and_corrupt_with_nonzero_exit() {
    let cache = tempfile::tempdir().unwrap();
    let o = meg(cache.path(), &["data", "verify", "mnist"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert_eq!(t.matches("MISSING").count(), 4, "{t}");
    assert!(t.contains("run `meg data fetch mnist`"), "{t}");

    let dir = cache.path().join("mnist");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte.gz"), b"not mnist").unwrap();
    let o = meg(cache.path(), &["data", "verify", "mnist"]);
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(t.contains("t10k-labels-idx1-ubyte.gz  CORRUPT"), "{t}");
    // Expected and actual hashes are both printed.
    assert!(
        t.contains("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
        "{t}"
    );
    assert!(t.contains("9 bytes"), "{t}");

    let o = meg(cache.path(), &["data", "verify", "celeba"]);
    assert!(
        text(&o).contains("meg data import celeba --from DIR"),
        "{}",
        text(&o)
    );
}

#[test]
fn import_refuses_wrong_files_and_leaves_nothing() {
    let cache = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("train-images-idx3-ubyte.gz"), b"junk").unwrap();
    let o = meg(
        cache.path(),
        &[
            "data",
            "import",
            "mnist",
            "--from",
            src.path().to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(t.contains("4 of 4 files"), "{t}");
    assert!(
        t.contains("does not match") && t.contains("not found"),
        "{t}"
    );
    let dir = cache.path().join("mnist");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn import_then_verify_real_fashion_mnist() {
    let debian = Path::new("/usr/share/datasets/fashion-mnist");
    assert!(
        debian.is_dir(),
        "input missing: {} (apt-get install dataset-fashion-mnist)",
        debian.display()
    );
    let cache = tempfile::tempdir().unwrap();
    let from = debian.to_str().unwrap();
    let o = meg(
        cache.path(),
        &["data", "import", "fashion-mnist", "--from", from],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(text(&o).matches("OK (imported)").count(), 4, "{}", text(&o));
    let o = meg(cache.path(), &["data", "verify", "fashion-mnist"]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert_eq!(t.matches("content matches").count(), 4, "{t}");
    println!("{t}");

    let p = cache
        .path()
        .join("fashion-mnist/train-labels-idx1-ubyte.gz");
    let mut b = std::fs::read(&p).unwrap();
    b.truncate(b.len() - 100);
    std::fs::write(&p, b).unwrap();
    let o = meg(cache.path(), &["data", "verify", "fashion-mnist"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("train-labels-idx1-ubyte.gz  CORRUPT"),
        "{}",
        text(&o)
    );
    // Importing again replaces the corrupt file.
    let o = meg(
        cache.path(),
        &["data", "import", "fashion-mnist", "--from", from],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(meg(cache.path(), &["data", "verify", "fashion-mnist"])
        .status
        .success());
}
