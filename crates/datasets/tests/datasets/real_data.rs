//! Real data: Debian's `dataset-fashion-mnist` (installed by `.ci/run`),
//! imported into a temporary cache, and KDD99 from the user's cache. A test
//! whose input is missing fails; `cargo xtask test` skips it by name and lists
//! it (xtask/src/inputs.rs), and the KDD99 one is `#[ignore]`d (CI cannot
//! download it).

use meg_datasets::images::{load_mnist, load_mnist_all, MnistKind, Split};
use meg_datasets::store::Outcome;
use meg_datasets::verify::{FileStatus, Matched};
use meg_datasets::{Manifest, Store};
use std::path::Path;

const DEBIAN: &str = "/usr/share/datasets/fashion-mnist";

#[test]
fn debian_fashion_mnist_imports_verifies_and_loads() {
    assert!(
        Path::new(DEBIAN).is_dir(),
        "input missing: {DEBIAN} (apt-get install dataset-fashion-mnist)"
    );
    let root = tempfile::tempdir().unwrap();
    let store = Store::at(root.path());
    let m = Manifest::builtin("fashion-mnist").unwrap();
    let done = store.import(&m, Path::new(DEBIAN)).unwrap();
    assert!(done.iter().all(|(_, o)| *o == Outcome::Imported));
    let st = store.status(&m).unwrap();
    for (name, s) in &st.files {
        println!("fashion-mnist/{name}: {s}");
        assert!(
            matches!(
                s,
                FileStatus::Ok {
                    matched: Matched::Content | Matched::Published,
                    ..
                }
            ),
            "{name}: {s}"
        );
    }
    let train = load_mnist(&store, MnistKind::FashionMnist, Split::Train).unwrap();
    let test = load_mnist(&store, MnistKind::FashionMnist, Split::Test).unwrap();
    assert_eq!(train.images.shape(), [60_000, 1, 28, 28]);
    assert_eq!(test.images.shape(), [10_000, 1, 28, 28]);
    assert_eq!(train.class_counts(10).unwrap(), [6_000; 10]);
    assert_eq!(test.class_counts(10).unwrap(), [1_000; 10]);
    println!(
        "fashion-mnist: train {:?} per class {:?}; test {:?} per class {:?}",
        train.images.shape(),
        train.class_counts(10).unwrap(),
        test.images.shape(),
        test.class_counts(10).unwrap()
    );
    assert_eq!(
        load_mnist_all(&store, MnistKind::FashionMnist)
            .unwrap()
            .len(),
        70_000
    );
    // Pixels span the full range.
    assert_eq!(train.images.iter().max(), Some(&255));
    assert_eq!(train.images.iter().min(), Some(&0));
    // A corrupted cache file is refused, never loaded.
    let dir = store.dir(&m);
    let p = dir.join("t10k-labels-idx1-ubyte.gz");
    let mut b = std::fs::read(&p).unwrap();
    let n = b.len();
    b[n - 20] ^= 0xff;
    std::fs::write(&p, b).unwrap();
    let e = format!(
        "{:#}",
        load_mnist(&store, MnistKind::FashionMnist, Split::Test).unwrap_err()
    );
    assert!(
        e.contains("t10k-labels-idx1-ubyte.gz: CORRUPT")
            && e.contains("meg data fetch fashion-mnist"),
        "{e}"
    );
}

/// KDD99 from the user's own cache (`MEG_DATA_DIR` or the default), verified.
#[test]
#[ignore = "needs KDD99 in the data cache (meg data fetch kdd99), which CI cannot download"]
fn cached_kdd99_follows_the_table_3_protocol() {
    use meg_datasets::kdd::{load_kdd99, parse_kdd, KddOptions, Scaling, FILE, N_FEATURES};
    let store = Store::from_env().expect("a data cache directory");
    let m = Manifest::builtin("kdd99").unwrap();
    assert!(
        store.status(&m).map(|s| s.is_ready()).unwrap_or(false),
        "input missing: kdd99 is not in {} (meg data fetch kdd99)",
        store.root().display()
    );
    let t = parse_kdd(&store.dir(&m).join(FILE)).unwrap();
    assert_eq!(t.len(), 494_021);
    assert_eq!(t.normal.iter().filter(|&&n| n).count(), 97_278);
    let d = load_kdd99(&store, &KddOptions::default()).unwrap();
    let (n_train, n_test) = (d.train_x.nrows() as i64, d.test_x.nrows() as i64);
    let anomalies: i64 = d.test_y.iter().sum();
    assert_eq!(d.train_x.ncols(), N_FEATURES);
    assert_eq!(n_train + (n_test - anomalies), 494_021 - 97_278);
    let share = anomalies as f64 / n_test as f64;
    println!("kdd99: train {n_train}, test {n_test}, anomalies {anomalies} ({share:.4})");
    assert!((0.19..=0.2).contains(&share), "{share}");
    let train_max = d.train_x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    assert!(train_max <= 1.0, "{train_max}");
    let u = load_kdd99(
        &store,
        &KddOptions {
            scaling: Scaling::Unscaled,
            ..KddOptions::default()
        },
    )
    .unwrap();
    assert!(u.train_x.iter().any(|&v| v > 1000.0));
}
