//! Synthetic stand-ins: true formats read back by the real readers, class
//! balance, learnability, the KDD protocol, determinism, atomic creation.

use meg_datasets::celeba::{PARTITION, ZIP, ZIP_DIR};
use meg_datasets::cifar::{self, ARCHIVE, RECORD};
use meg_datasets::hash::{hash_file, read_maybe_gzip};
use meg_datasets::images::{ImageSet, Split};
use meg_datasets::kdd::{self, parse_kdd, KddOptions, N_FEATURES, VOCABULARY};
use meg_datasets::synthetic::{self, ensure, CelebaSpec, CifarSpec, KddSpec, MnistSpec, StandIn};
use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::Path;
use std::time::Instant;

/// Number of distinct images in a set.
fn distinct(set: &ImageSet) -> usize {
    set.images
        .outer_iter()
        .map(|img| img.iter().copied().collect::<Vec<u8>>())
        .collect::<HashSet<_>>()
        .len()
}

#[test]
fn mnist_standin_is_balanced_varied_and_learnable() {
    let root = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let train = synthetic::mnist(root.path(), Split::Train).unwrap();
    println!("MNIST stand-in: {:.2} s", t.elapsed().as_secs_f64());
    let test = synthetic::mnist(root.path(), Split::Test).unwrap();
    assert_eq!(train.images.shape(), [2000, 1, 28, 28]);
    assert_eq!(test.images.shape(), [500, 1, 28, 28]);
    assert_eq!(train.class_counts(10).unwrap(), [200; 10]);
    assert_eq!(test.class_counts(10).unwrap(), [50; 10]);
    assert_eq!(synthetic::mnist_all(root.path()).unwrap().len(), 2500);
    // MNIST-like: dark background, bright strokes, no two images alike.
    let mean = train.images.iter().map(|&v| f64::from(v)).sum::<f64>() / train.images.len() as f64;
    assert!((10.0..80.0).contains(&mean), "mean pixel {mean}");
    assert_eq!(train.images.iter().max(), Some(&255));
    assert_eq!(distinct(&train), 2000);
    // Learnability: meg-models' tests/standins.rs.
}

#[test]
fn cifar_standin_archive_has_every_batch_and_learnable_classes() {
    let root = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let train = synthetic::cifar10(root.path(), Split::Train).unwrap();
    println!("CIFAR-10 stand-in: {:.2} s", t.elapsed().as_secs_f64());
    let test = synthetic::cifar10(root.path(), Split::Test).unwrap();
    assert_eq!(train.images.shape(), [1000, 3, 32, 32]);
    assert_eq!(test.images.shape(), [200, 3, 32, 32]);
    assert_eq!(train.class_counts(10).unwrap(), [100; 10]);
    assert_eq!(test.class_counts(10).unwrap(), [20; 10]);
    // The archive holds each batch member with 200 whole records.
    let dir = ensure(root.path(), &CifarSpec::default()).unwrap();
    let gz = read_maybe_gzip(&dir.join(ARCHIVE)).unwrap();
    let mut sizes = BTreeMap::new();
    for e in tar::Archive::new(&gz[..]).entries().unwrap() {
        let e = e.unwrap();
        sizes.insert(e.path().unwrap().display().to_string(), e.size());
    }
    for m in cifar::members(Split::Train)
        .into_iter()
        .chain(cifar::members(Split::Test))
    {
        assert_eq!(sizes[&m], 200 * RECORD as u64, "{m}");
    }
    assert_eq!(distinct(&train), 1000);
    // Learnability: meg-models' tests/standins.rs.
}

#[test]
fn kdd_standin_follows_table_3_and_separates_normal_rows() {
    let root = tempfile::tempdir().unwrap();
    let opts = KddOptions::default();
    let t = Instant::now();
    let d = synthetic::kdd99(root.path(), &opts).unwrap();
    println!("KDD99 stand-in: {:.2} s", t.elapsed().as_secs_f64());
    let dir = ensure(root.path(), &KddSpec::default()).unwrap();
    // The true CSV format: 42 fields, labels with their trailing dot.
    let text = String::from_utf8(read_maybe_gzip(&dir.join(kdd::FILE)).unwrap()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4000);
    assert!(lines
        .iter()
        .all(|l| l.split(',').count() == 42 && l.ends_with('.')));
    // 30% normal rows; every categorical value occurs.
    let table = parse_kdd(&dir.join(kdd::FILE)).unwrap();
    assert_eq!(table.normal.iter().filter(|&&n| n).count(), 1200);
    for (j, vocab) in VOCABULARY.iter().enumerate() {
        let seen: HashSet<u8> = table.codes.iter().skip(j).step_by(7).copied().collect();
        assert_eq!(seen.len(), vocab.len(), "categorical column {j}");
    }
    // The protocol: 121 features, training rows are all attacks, test
    // anomalies are the full 20% (enough normal rows to draw from).
    assert_eq!(d.train_x.ncols(), N_FEATURES);
    let n_test = d.test_x.nrows() as i64;
    let anomalies: i64 = d.test_y.iter().sum();
    let inliers = n_test - anomalies;
    assert_eq!(anomalies, inliers / 4);
    assert_eq!(d.train_x.nrows() as i64 + inliers, 2800);
    let frac = anomalies as f64 / n_test as f64;
    assert!((0.199..=0.2).contains(&frac), "anomaly fraction {frac}");
    let lo = d.train_x.iter().copied().fold(f32::INFINITY, f32::min);
    let hi = d.train_x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    assert!(lo == 0.0 && hi == 1.0, "min-max scaled range [{lo}, {hi}]");
    // Normal rows lie off the training rows: flagging the 20% of test rows
    // farthest from their nearest training row finds them.
    let nearest: Vec<f32> = d
        .test_x
        .outer_iter()
        .map(|t| {
            d.train_x
                .outer_iter()
                .map(|r| t.iter().zip(r).map(|(a, b)| (a - b) * (a - b)).sum::<f32>())
                .fold(f32::INFINITY, f32::min)
        })
        .collect();
    let mut order: Vec<usize> = (0..nearest.len()).collect();
    order.sort_by(|&a, &b| nearest[b].total_cmp(&nearest[a]));
    let k = anomalies as usize;
    let hits: i64 = order[..k].iter().map(|&i| d.test_y[i]).sum();
    let f1 = hits as f64 / k as f64; // precision = recall when k = anomalies
    println!("KDD99 stand-in: nearest-neighbour F1 {f1:.3}");
    assert!(f1 > 0.8, "nearest-neighbour F1 {f1}");
}

#[test]
fn celeba_standin_builds_64x64_faces() {
    let root = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let dir = ensure(root.path(), &CelebaSpec::default()).unwrap();
    println!(
        "CelebA stand-in: written in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let set = synthetic::celeba64(root.path()).unwrap();
    println!(
        "CelebA stand-in: read in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(set.images.shape(), [300, 3, 64, 64]);
    assert_eq!(set.class_counts(3).unwrap(), [240, 30, 30]);
    // The zip holds 178x218 JPEGs, as the real archive.
    let f = std::fs::File::open(dir.join(ZIP)).unwrap();
    let mut zip = zip::ZipArchive::new(f).unwrap();
    assert_eq!(zip.len(), 300);
    let mut jpeg = Vec::new();
    zip.by_name(&format!("{ZIP_DIR}/000300.jpg"))
        .unwrap()
        .read_to_end(&mut jpeg)
        .unwrap();
    assert_eq!(&jpeg[..2], [0xff, 0xd8]);
    let image = meg_datasets::decode::decode_image(&jpeg).unwrap();
    assert_eq!((image.height, image.width), (218, 178));
    let part = std::fs::read_to_string(dir.join(PARTITION)).unwrap();
    assert_eq!(part.lines().next(), Some("000001.jpg 0"));
    // Face-like: skin (red above blue) between the eyes and the mouth, on
    // average, and the images differ.
    let cheek = |c: usize| {
        let v = set.images.slice(ndarray::s![.., c, 34..40, 28..36]);
        v.iter().map(|&p| f64::from(p)).sum::<f64>() / v.len() as f64
    };
    let (r, b) = (cheek(0), cheek(2));
    assert!(r > b + 30.0, "face centre red {r}, blue {b}");
    assert_eq!(distinct(&set), 300);
}

/// Every file under `dir` (relative name) with its sha256.
fn digests(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            (name, hash_file(&e.path()).unwrap().sha256)
        })
        .collect()
}

fn same_bytes_twice(spec: &impl StandIn, files: usize) {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let da = digests(&ensure(a.path(), spec).unwrap());
    let db = digests(&ensure(b.path(), spec).unwrap());
    assert_eq!(da.len(), files, "{}: {da:?}", spec.dir_name());
    assert_eq!(da, db, "{}", spec.dir_name());
}

#[test]
fn standins_are_byte_identical_across_runs() {
    same_bytes_twice(&MnistSpec::default(), 4);
    same_bytes_twice(&CifarSpec::default(), 1);
    same_bytes_twice(&KddSpec::default(), 1);
    same_bytes_twice(&CelebaSpec::default(), 2);
    // The seed matters, and is part of the folder name.
    let root = tempfile::tempdir().unwrap();
    let small = |seed| MnistSpec {
        train: 20,
        test: 10,
        seed,
    };
    let one = digests(&ensure(root.path(), &small(1)).unwrap());
    let two = digests(&ensure(root.path(), &small(2)).unwrap());
    assert!(one.iter().zip(&two).all(|(x, y)| x.1 != y.1));
    assert_ne!(small(1).dir_name(), small(2).dir_name());
}

#[test]
fn ensure_writes_once_atomically() {
    let root = tempfile::tempdir().unwrap();
    let spec = KddSpec { rows: 200, seed: 3 };
    // Concurrent calls agree on one complete folder and leave nothing else.
    let dirs: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| ensure(root.path(), &spec).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(dirs.iter().all(|d| *d == root.path().join(spec.dir_name())));
    let entries: Vec<_> = std::fs::read_dir(root.path()).unwrap().collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(parse_kdd(&dirs[0].join(kdd::FILE)).unwrap().len(), 200);
    // An existing folder is used as it is, not rewritten.
    let file = dirs[0].join(kdd::FILE);
    std::fs::write(&file, b"kept").unwrap();
    ensure(root.path(), &spec).unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), b"kept");
    // A failed write leaves nothing behind.
    let bad = CifarSpec {
        per_batch: 0,
        test: 5,
        seed: 1,
    };
    let m = format!("{:#}", ensure(root.path(), &bad).unwrap_err());
    assert!(m.contains("every batch needs a record"), "{m}");
    assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
}
