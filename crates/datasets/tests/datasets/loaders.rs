//! Loaders on small fixtures in the true formats, and bad input.

use crate::fixtures::{gzip, idx_bytes, write, write_mnist_dir};
use flate2::write::GzEncoder;
use meg_datasets::celeba::{build_from_files, crop_resize, parse_partition};
use meg_datasets::cifar::{parse_batch, read_cifar10_archive, RECORD};
use meg_datasets::decode::{encode_jpeg, Rgb};
use meg_datasets::holdout::holdout_split;
use meg_datasets::idx::{parse_idx, read_idx, read_idx_images, read_idx_labels};
use meg_datasets::images::{read_mnist_dir, ImageSet, Split};
use meg_datasets::kdd::{
    feature_names, kdd99_split, parse_kdd, parse_kdd_reader, KddOptions, Scaling, N_FEATURES,
    VOCABULARY,
};
use meg_datasets::stacked::{paper_stack_count, Stacks};
use ndarray::{s, Array4, Axis};
use std::io::Write;
use std::path::Path;

fn err<T: std::fmt::Debug>(r: anyhow::Result<T>) -> String {
    format!("{:#}", r.unwrap_err())
}

#[test]
fn idx_raw_and_gzip_read_the_same_known_values() {
    let pixels: Vec<u8> = (0..2 * 3 * 4).map(|i| i as u8 * 10).collect();
    let raw = idx_bytes(&[2, 3, 4], &pixels);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "img", &raw);
    write(dir.path(), "img.gz", &gzip(&raw, 6));
    for name in ["img", "img.gz"] {
        let idx = read_idx(&dir.path().join(name)).unwrap();
        assert_eq!(idx.dims, [2, 3, 4]);
        assert_eq!(idx.data, pixels);
        let t = read_idx_images(&dir.path().join(name)).unwrap();
        assert_eq!(t.shape(), [2, 1, 3, 4]);
        assert_eq!(t[[1, 0, 2, 3]] as usize, (12 + 11) * 10);
    }
    write(dir.path(), "lab.gz", &gzip(&idx_bytes(&[3], &[7, 0, 9]), 6));
    let l = read_idx_labels(&dir.path().join("lab.gz"), 10).unwrap();
    assert_eq!(l, [7, 0, 9]);
}

#[test]
fn idx_bad_input_names_the_file_and_offset() {
    let good = idx_bytes(&[2, 2, 2], &[1; 8]);
    let mut magic = good.clone();
    magic[0] = 1;
    let m = err(parse_idx(&magic, "f.idx"));
    assert!(
        m.contains("f.idx") && m.contains("magic") && m.contains("offset 0"),
        "{m}"
    );
    let mut kind = good.clone();
    kind[2] = 0x0d;
    let m = err(parse_idx(&kind, "f.idx"));
    assert!(m.contains("0x0d") && m.contains("offset 2"), "{m}");
    let m = err(parse_idx(&good[..good.len() - 1], "f.idx"));
    assert!(
        m.contains("truncated")
            && m.contains("need 8")
            && m.contains("found 7")
            && m.contains("offset 16"),
        "{m}"
    );
    let mut long = good.clone();
    long.push(0);
    assert!(err(parse_idx(&long, "f.idx")).contains("too long"));
    let m = err(parse_idx(&good[..10], "f.idx"));
    assert!(m.contains("truncated IDX header"), "{m}");
    assert!(err(parse_idx(&[0, 0], "f.idx")).contains("too short"));

    let dir = tempfile::tempdir().unwrap();
    let gz = gzip(
        &idx_bytes(&[100, 28, 28], &crate::fixtures::bytes(78400, 1)),
        6,
    );
    write(dir.path(), "cut.gz", &gz[..gz.len() / 2]);
    let m = err(read_idx(&dir.path().join("cut.gz")));
    assert!(
        m.contains("cut.gz") && m.contains("gzip") && m.contains("compressed byte"),
        "{m}"
    );
    let mut flipped = gz.clone();
    let mid = flipped.len() / 2;
    for b in &mut flipped[mid..mid + 64] {
        *b ^= 0x5a;
    }
    write(dir.path(), "flip.gz", &flipped);
    assert!(err(read_idx(&dir.path().join("flip.gz"))).contains("flip.gz"));

    write(dir.path(), "lab", &idx_bytes(&[2], &[3, 12]));
    let m = err(read_idx_labels(&dir.path().join("lab"), 10));
    assert!(m.contains("label 12") && m.contains("file offset 9"), "{m}");
    write(dir.path(), "img3", &idx_bytes(&[4], &[0; 4]));
    assert!(err(read_idx_images(&dir.path().join("img3"))).contains("expected 3"));
}

#[test]
fn mnist_folder_loads_with_labels_and_pm1_range() {
    let dir = tempfile::tempdir().unwrap();
    write_mnist_dir(dir.path(), 30, 20);
    let train = read_mnist_dir(dir.path(), Split::Train).unwrap();
    let test = read_mnist_dir(dir.path(), Split::Test).unwrap();
    assert_eq!(train.images.shape(), [30, 1, 28, 28]);
    assert_eq!(test.len(), 20);
    assert_eq!(train.class_counts(10).unwrap(), [3; 10]);
    assert_eq!(test.class_counts(10).unwrap(), [2; 10]);
    assert_eq!(train.labels[13], 3);
    assert_eq!(train.images[[13, 0, 5, 5]], 78);
    let two = train.select(&[13, 0]);
    assert_eq!(two.labels, [3, 0]);
    assert_eq!(two.images[[0, 0, 5, 5]], 78);
    assert_eq!(
        two.images.slice(s![1, .., .., ..]),
        train.images.slice(s![0, .., .., ..])
    );
    // Image and label counts must agree.
    write(
        dir.path(),
        "train-labels-idx1-ubyte.gz",
        &gzip(&idx_bytes(&[29], &[0; 29]), 6),
    );
    let m = err(read_mnist_dir(dir.path(), Split::Train));
    assert!(m.contains("30 images") && m.contains("29 labels"), "{m}");
}

/// `n` images, image i filled with `(i % 10) * 25 + 3`, labelled `i % 10`.
fn synthetic(n: usize) -> ImageSet {
    let labels: Vec<i64> = (0..n as i64).map(|i| i % 10).collect();
    let images = Array4::from_shape_fn((n, 1, 28, 28), |(i, ..)| (i % 10) as u8 * 25 + 3);
    ImageSet::new(images, labels).unwrap()
}

#[test]
fn stacks_are_fixed_by_their_seed_and_index_the_images() {
    let a = Stacks::draw(100, 4, 1000, 3).unwrap();
    let b = Stacks::draw(100, 4, 1000, 3).unwrap();
    let c = Stacks::draw(100, 4, 1000, 4).unwrap();
    assert_eq!((a.len(), a.k()), (1000, 4));
    assert_eq!(a.ids, b.ids);
    assert_ne!(a.ids, c.ids);
    // Indices cover the image range and nothing else.
    assert!(a.ids.iter().all(|&i| (0..100).contains(&i)));
    assert!((0..100).all(|i| a.ids.iter().any(|&j| j == i)));
    // The batch stream is the stacks' seed on stream 1: not the stacks' stream.
    let (mut ra, mut rb) = (a.batch_rng(), b.batch_rng());
    use rand::Rng;
    assert_eq!(ra.random::<u64>(), rb.random::<u64>());
    assert_eq!(Stacks::paper(10, 3, 7).unwrap().len(), 128_000);
    assert_eq!(paper_stack_count(4), 1_280_000);
    assert!(Stacks::paper(10, 2, 0).is_err());
    assert!(Stacks::draw(0, 3, 10, 0).is_err() && Stacks::draw(10, 3, 0, 0).is_err());
}

#[test]
fn holdout_split_follows_table_4() {
    let pool = synthetic(200);
    let h = holdout_split(&pool, 3, 11).unwrap();
    assert_eq!(h.train.len(), 180 * 8 / 10);
    assert_eq!(h.test.len(), 36 + 20);
    assert!(!h.train.labels.contains(&3));
    let (te, an) = (&h.test.labels, &h.test_anomaly);
    assert_eq!(an.iter().sum::<i64>(), 20);
    assert!(te.iter().zip(an).all(|(l, a)| (*l == 3) == (*a == 1)));
    // Train and test partition the pool: pixel values identify classes
    // only, so compare counts per class.
    let mut counts = h.train.class_counts(10).unwrap();
    for (c, t) in counts.iter_mut().zip(h.test.class_counts(10).unwrap()) {
        *c += t;
    }
    assert_eq!(counts, [20; 10]);
    let again = holdout_split(&pool, 3, 11).unwrap();
    assert_eq!(again.test.labels, h.test.labels);
    let other = holdout_split(&pool, 3, 12).unwrap();
    assert_ne!(other.test.labels, h.test.labels);
    assert!(holdout_split(&pool, 10, 0).is_err());
}

fn cifar_batch(n: usize, first_label: u8) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push((first_label + i as u8) % 10);
        for plane in 0..3u8 {
            out.extend(std::iter::repeat_n(plane * 100 + i as u8, 1024));
        }
    }
    out
}

fn write_cifar(path: &Path, batches: &[(&str, Vec<u8>)]) {
    let f = std::fs::File::create(path).unwrap();
    let mut tar = tar::Builder::new(GzEncoder::new(f, flate2::Compression::new(6)));
    for (name, bytes) in batches {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, format!("cifar-10-batches-bin/{name}"), &bytes[..])
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

#[test]
fn cifar10_binary_archive_loads_both_splits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cifar-10-binary.tar.gz");
    let mut batches: Vec<(&str, Vec<u8>)> = vec![("batches.meta.txt", b"airplane\n".to_vec())];
    let names = [
        "data_batch_1.bin",
        "data_batch_2.bin",
        "data_batch_3.bin",
        "data_batch_4.bin",
        "data_batch_5.bin",
    ];
    for (i, n) in names.iter().enumerate() {
        batches.push((n, cifar_batch(2, 2 * i as u8)));
    }
    batches.push(("test_batch.bin", cifar_batch(3, 7)));
    write_cifar(&path, &batches);
    let train = read_cifar10_archive(&path, Split::Train).unwrap();
    let test = read_cifar10_archive(&path, Split::Test).unwrap();
    assert_eq!(train.images.shape(), [10, 3, 32, 32]);
    assert_eq!(train.class_counts(10).unwrap(), [1; 10]);
    assert_eq!(test.labels, [7, 8, 9]);
    // Record 1 of a batch: plane c is filled with c * 100 + 1.
    for c in 0..3 {
        assert_eq!(test.images[[1, c, 31, 0]] as usize, c * 100 + 1);
    }
    assert_eq!(train.images[[0, 0, 0, 0]], 0);

    // A missing member, a truncated batch, a bad label.
    write_cifar(&path, &batches[..3]);
    let m = err(read_cifar10_archive(&path, Split::Train));
    assert!(m.contains("data_batch_3.bin missing"), "{m}");
    let mut cut = cifar_batch(2, 0);
    cut.truncate(RECORD + 100);
    let m = err(parse_batch(&cut, "x.bin"));
    assert!(
        m.contains("x.bin") && m.contains(&format!("offset {RECORD}")),
        "{m}"
    );
    let mut bad = cifar_batch(2, 0);
    bad[RECORD] = 11;
    let m = err(parse_batch(&bad, "x.bin"));
    assert!(
        m.contains("label 11") && m.contains(&format!("offset {RECORD}")),
        "{m}"
    );
    let gz = std::fs::read(dir.path().join("cifar-10-binary.tar.gz")).unwrap();
    write(dir.path(), "cut.tar.gz", &gz[..gz.len() / 2]);
    let m = err(read_cifar10_archive(
        &dir.path().join("cut.tar.gz"),
        Split::Test,
    ));
    assert!(m.contains("cut.tar.gz"), "{m}");
}

/// A KDD row: protocol, service, flag, land, logged_in, is_host_login,
/// is_guest_login, src_bytes, label; other numeric fields from `k`.
fn kdd_row(
    proto: &str,
    service: &str,
    flag: &str,
    cats: [u8; 4],
    src: f64,
    k: f64,
    label: &str,
) -> String {
    let mut f: Vec<String> = (0..41)
        .map(|i| format!("{}", k + i as f64 / 100.0))
        .collect();
    f[1] = proto.into();
    f[2] = service.into();
    f[3] = flag.into();
    f[4] = format!("{src}");
    f[6] = cats[0].to_string();
    f[11] = cats[1].to_string();
    f[20] = cats[2].to_string();
    f[21] = cats[3].to_string();
    f.push(label.into());
    f.join(",")
}

#[test]
fn kdd_one_hot_layout_is_the_authors() {
    let names = feature_names();
    assert_eq!(names.len(), N_FEATURES);
    assert_eq!(VOCABULARY[1].len(), 66);
    assert_eq!(names[0], "duration");
    assert_eq!(names[33], "dst_host_srv_rerror_rate");
    assert_eq!(names[34], "protocol_type-icmp");
    assert_eq!(names[37], "service-IRC");
    assert_eq!(names[120], "is_guest_login-1");
    let text = format!(
        "{}\n{}\r\n\n",
        kdd_row("tcp", "http", "SF", [0, 1, 0, 1], 181.0, 0.0, "normal."),
        kdd_row("icmp", "ecr_i", "REJ", [1, 0, 0, 0], 1032.0, 1.0, "smurf.")
    );
    let t = parse_kdd_reader(text.as_bytes(), "rows.csv").unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(t.normal, [true, false]);
    let mut row = vec![0.0; N_FEATURES];
    t.features(0, &mut row);
    let on: Vec<&str> = (34..N_FEATURES)
        .filter(|&j| row[j] == 1.0)
        .map(|j| names[j].as_str())
        .collect();
    assert_eq!(
        on,
        [
            "protocol_type-tcp",
            "service-http",
            "flag-SF",
            "land-0",
            "logged_in-1",
            "is_host_login-0",
            "is_guest_login-1"
        ]
    );
    // Numeric columns in file order: duration, src_bytes, dst_bytes, ...
    assert_eq!(row[0], 0.0);
    assert_eq!(row[1], 181.0);
    assert_eq!(row[2], 0.05);
}

#[test]
fn kdd_bad_rows_name_the_line_and_field() {
    let good = kdd_row("tcp", "http", "SF", [0, 0, 0, 0], 1.0, 0.0, "normal.");
    let short = good.rsplit_once(',').unwrap().0.to_string();
    let m = err(parse_kdd_reader(
        format!("{good}\n{short}\n").as_bytes(),
        "k.csv",
    ));
    assert!(
        m.contains("k.csv: line 2 has 41") && m.contains("expected 42"),
        "{m}"
    );
    let unseen = kdd_row("tcp", "aol", "SF", [0, 0, 0, 0], 1.0, 0.0, "normal.");
    let m = err(parse_kdd_reader(unseen.as_bytes(), "k.csv"));
    assert!(
        m.contains("line 1, field 3 (service)") && m.contains("\"aol\""),
        "{m}"
    );
    let host = kdd_row("tcp", "http", "SF", [0, 0, 1, 0], 1.0, 0.0, "normal.");
    assert!(err(parse_kdd_reader(host.as_bytes(), "k.csv")).contains("is_host_login"));
    let nan = good.replacen(",SF,1,", ",SF,abc,", 1);
    let m = err(parse_kdd_reader(nan.as_bytes(), "k.csv"));
    assert!(
        m.contains("field 5 (src_bytes)") && m.contains("not a finite number"),
        "{m}"
    );
    assert!(err(parse_kdd_reader(&b""[..], "k.csv")).contains("no rows"));
    let dir = tempfile::tempdir().unwrap();
    let gz = gzip(format!("{good}\n").repeat(2000).as_bytes(), 6);
    write(dir.path(), "k.gz", &gz[..gz.len() / 2]);
    let m = err(parse_kdd(&dir.path().join("k.gz")));
    assert!(m.contains("k.gz") && m.contains("gzip"), "{m}");
}

#[test]
fn kdd_protocol_split_scaling_and_mix() {
    // 1000 rows: every 5th is normal (the anomaly class), src_bytes = i.
    let services = ["http", "smtp", "private", "ecr_i"];
    let text: String = (0..1000)
        .map(|i| {
            let normal = i % 5 == 0;
            kdd_row(
                if i % 3 == 0 { "udp" } else { "tcp" },
                services[i % 4],
                "SF",
                [0, (i % 2) as u8, 0, 0],
                i as f64,
                (i % 7) as f64,
                if normal { "normal." } else { "neptune." },
            ) + "\n"
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "kdd.gz", &gzip(text.as_bytes(), 6));
    let t = parse_kdd(&dir.path().join("kdd.gz")).unwrap();
    assert_eq!(t.len(), 1000);
    let opts = KddOptions {
        seed: 5,
        ..KddOptions::default()
    };
    let d = kdd99_split(&t, &opts).unwrap();
    let n_train = d.train_x.nrows() as i64;
    let n_test = d.test_x.nrows() as i64;
    let anomalies: i64 = d.test_y.iter().sum();
    let inliers = n_test - anomalies;
    // 800 non-normal rows in all, split between train and test inliers.
    assert_eq!(n_train + inliers, 800);
    assert_eq!(anomalies, (inliers as f64 * 0.25).floor() as i64);
    assert_eq!(d.train_x.ncols(), N_FEATURES);
    // Min-max on the training rows: each non-constant column spans [0, 1].
    let column = |x: &ndarray::Array2<f32>, j: usize| x.column(j).to_vec();
    let lo = |x: &ndarray::Array2<f32>, j| column(x, j).into_iter().fold(f32::INFINITY, f32::min);
    let hi =
        |x: &ndarray::Array2<f32>, j| column(x, j).into_iter().fold(f32::NEG_INFINITY, f32::max);
    let src = 1; // src_bytes
    assert_eq!(lo(&d.train_x, src), 0.0);
    assert_eq!(hi(&d.train_x, src), 1.0);
    // Constant columns (flag-SF is always 1) get scale 1: x - min = 0.
    let sf = feature_names().iter().position(|n| n == "flag-SF").unwrap();
    assert_eq!(hi(&d.train_x, sf), 0.0);
    // The unscaled variant keeps raw values, same rows.
    let u = kdd99_split(
        &t,
        &KddOptions {
            scaling: Scaling::Unscaled,
            ..opts
        },
    )
    .unwrap();
    assert_eq!(u.test_y, d.test_y);
    assert_eq!(f64::from(hi(&u.train_x, src)), d.train_max[src]);
    // Scaled back, the column is the raw one; float32 keeps ~7 digits of
    // values up to train_max.
    let range = d.train_max[src] - d.train_min[src];
    for (a, b) in column(&d.train_x, src).iter().zip(column(&u.train_x, src)) {
        let back = f64::from(*a) * range + d.train_min[src];
        assert!((back - f64::from(b)).abs() <= 4.0 * f64::from(f32::EPSILON) * d.train_max[src]);
    }
    // Seeded.
    let again = kdd99_split(&t, &opts).unwrap();
    assert_eq!(again.test_x, d.test_x);
    let other = kdd99_split(&t, &KddOptions { seed: 6, ..opts }).unwrap();
    assert_ne!(other.test_x, d.test_x);
}

fn face(with_jpeg: bool) -> Vec<u8> {
    // 218 rows x 178 columns: red bands of 20 rows at top and bottom, a blue
    // middle that the center crop keeps.
    let data = (0..218 * 178)
        .flat_map(|i| match i / 178 {
            0..20 | 198.. => [255, 0, 0],
            _ => [0, 0, 255],
        })
        .collect();
    let rgb = Rgb {
        data,
        width: 178,
        height: 218,
    };
    if with_jpeg {
        return encode_jpeg(&rgb, 90.0).unwrap();
    }
    let img = image::RgbImage::from_raw(178, 218, rgb.data).unwrap();
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png).unwrap();
    png.into_inner()
}

#[test]
fn celeba_crop_and_resize_from_a_zip() {
    let dir = tempfile::tempdir().unwrap();
    let png = face(false);
    let jpg = face(true);
    let zip_path = dir.path().join("img_align_celeba.zip");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    for (name, bytes) in [
        ("000001.jpg", &png),
        ("000002.jpg", &jpg),
        ("000003.jpg", &png),
    ] {
        z.start_file(
            format!("img_align_celeba/{name}"),
            zip::write::FileOptions::default(),
        )
        .unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap();
    let part = dir.path().join("list_eval_partition.txt");
    std::fs::write(&part, "000001.jpg 0\n000002.jpg 1\n000003.jpg 2\n").unwrap();
    let set = build_from_files(&zip_path, &part, false).unwrap();
    assert_eq!(set.images.shape(), [3, 3, 64, 64]);
    assert_eq!(set.labels, [0, 1, 2]);
    // Lossless input: exactly blue everywhere, the red bands cropped away.
    let plane = |i: usize, c: usize| set.images.slice(s![i, c, .., ..]).to_owned();
    for i in [0, 2] {
        assert!(plane(i, 0).iter().all(|&v| v == 0));
        assert!(plane(i, 1).iter().all(|&v| v == 0));
        assert!(plane(i, 2).iter().all(|&v| v == 255));
    }
    // JPEG: close to blue.
    let mean = |i, c| plane(i, c).iter().map(|&v| f64::from(v)).sum::<f64>() / 4096.0;
    assert!(mean(1, 0) < 8.0 && mean(1, 2) > 245.0);

    std::fs::write(&part, "000001.jpg 0\n000009.jpg 1\n").unwrap();
    let m = err(build_from_files(&zip_path, &part, false));
    assert!(m.contains("img_align_celeba/000009.jpg"), "{m}");
    let m = err(parse_partition("000001.jpg 0\n000002.jpg 5\n", "p.txt"));
    assert!(m.contains("p.txt: line 2") && m.contains("\"5\""), "{m}");
    assert!(err(parse_partition("000001.jpg\n", "p.txt")).contains("line 1"));
}

#[test]
fn image_sets_need_a_label_per_image_and_one_shape_to_join() {
    let imgs = Array4::<u8>::zeros((2, 1, 4, 4));
    assert!(ImageSet::new(imgs.clone(), vec![0; 3]).is_err());
    let a = ImageSet::new(imgs, vec![0, 1]).unwrap();
    let b = ImageSet::new(Array4::<u8>::zeros((1, 1, 5, 4)), vec![2]).unwrap();
    assert!(ImageSet::concat(&[&a, &b]).is_err());
    let both = ImageSet::concat(&[&a, &a]).unwrap();
    assert_eq!(
        (both.images.len_of(Axis(0)), both.labels),
        (4, vec![0, 1, 0, 1])
    );
    assert!(a.class_counts(1).is_err() && a.class_counts(2).is_ok());
    assert!(ImageSet::from_pixels(vec![0; 31], [2, 1, 4, 4], vec![0, 0]).is_err());
}

#[test]
fn celeba_crop_resize_matches_torchvision_golden() {
    // The image of tests/golden/datasets_celeba64.py.
    let data = (0..218usize)
        .flat_map(|y| {
            (0..178usize).flat_map(move |x| {
                [
                    ((7 * x + 13 * y) % 256) as u8,
                    ((x * x + 3 * y) % 256) as u8,
                    (255 * ((x / 8 + y / 8) % 2)) as u8,
                ]
            })
        })
        .collect();
    let img = Rgb {
        data,
        width: 178,
        height: 218,
    };
    let ours = crop_resize(&img).unwrap();
    let golden = meg_plumbing::golden::GoldenFile::load("datasets_celeba64.json").unwrap();
    let (shape, want) = golden.values("output").unwrap();
    assert_eq!(shape, [3, 64, 64]);
    // Pillow's integer arithmetic, reproduced: every byte equal.
    let differing = ours
        .iter()
        .zip(&want)
        .filter(|(a, b)| f64::from(**a) != **b)
        .count();
    assert_eq!(
        differing,
        0,
        "{differing} of {} bytes differ from torchvision/Pillow",
        want.len()
    );
}
