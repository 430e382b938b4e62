//! KDD Cup 99 (10 percent) with the Table 3 protocol.
//!
//! Each CSV row has 41 features and a label. The seven categorical columns
//! (protocol_type, service, flag, land, logged_in, is_host_login,
//! is_guest_login) are one-hot encoded over the fixed vocabulary of the 10
//! percent file, categories sorted as pandas' `get_dummies` sorts them; the
//! 34 numeric columns come first, in file order, then the one-hot blocks in
//! that column order: 121 features, named `column-value` like the authors'.
//! A value outside the vocabulary is an error naming the line and column.
//!
//! Protocol ([`kdd99_split`]): a seeded 50/50 split of the rows; training
//! keeps only the non-`normal.` rows of its half (the majority); `normal.`
//! is the anomaly class (label 1). The test half keeps all its non-normal
//! rows and adds shuffled normal rows up to `anomaly_fraction` (20%) of the
//! result (all of them when there are fewer, as in the authors' code, which
//! gives about 19.7% on the real data), then is shuffled. Min-max scaling
//! (scikit-learn's `MinMaxScaler`: constant columns get scale 1) is fitted
//! on the training rows and applied to both; [`Scaling::Unscaled`]
//! reproduces the authors' runs, whose loader discarded the scaled arrays.

use crate::hash::{is_gzip, GzReader};
use crate::manifest::Manifest;
use crate::store::Store;
use anyhow::{bail, Context, Result};
use ndarray::Array2;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// File name in the cache.
pub const FILE: &str = "kddcup.data_10_percent.gz";
/// Fields per row: 41 features and the label.
pub const FIELDS: usize = 42;
/// Features after one-hot encoding.
pub const N_FEATURES: usize = 121;

/// The 42 column names, in file order.
pub const COLUMNS: [&str; FIELDS] = [
    "duration",
    "protocol_type",
    "service",
    "flag",
    "src_bytes",
    "dst_bytes",
    "land",
    "wrong_fragment",
    "urgent",
    "hot",
    "num_failed_logins",
    "logged_in",
    "num_compromised",
    "root_shell",
    "su_attempted",
    "num_root",
    "num_file_creations",
    "num_shells",
    "num_access_files",
    "num_outbound_cmds",
    "is_host_login",
    "is_guest_login",
    "count",
    "srv_count",
    "serror_rate",
    "srv_serror_rate",
    "rerror_rate",
    "srv_rerror_rate",
    "same_srv_rate",
    "diff_srv_rate",
    "srv_diff_host_rate",
    "dst_host_count",
    "dst_host_srv_count",
    "dst_host_same_srv_rate",
    "dst_host_diff_srv_rate",
    "dst_host_same_src_port_rate",
    "dst_host_srv_diff_host_rate",
    "dst_host_serror_rate",
    "dst_host_srv_serror_rate",
    "dst_host_rerror_rate",
    "dst_host_srv_rerror_rate",
    "label",
];

/// Column indices of the one-hot encoded columns, in encoding order.
pub const CATEGORICAL: [usize; 7] = [1, 2, 3, 6, 11, 20, 21];

const PROTOCOLS: &[&str] = &["icmp", "tcp", "udp"];
const SERVICES: &[&str] = &[
    "IRC",
    "X11",
    "Z39_50",
    "auth",
    "bgp",
    "courier",
    "csnet_ns",
    "ctf",
    "daytime",
    "discard",
    "domain",
    "domain_u",
    "echo",
    "eco_i",
    "ecr_i",
    "efs",
    "exec",
    "finger",
    "ftp",
    "ftp_data",
    "gopher",
    "hostnames",
    "http",
    "http_443",
    "imap4",
    "iso_tsap",
    "klogin",
    "kshell",
    "ldap",
    "link",
    "login",
    "mtp",
    "name",
    "netbios_dgm",
    "netbios_ns",
    "netbios_ssn",
    "netstat",
    "nnsp",
    "nntp",
    "ntp_u",
    "other",
    "pm_dump",
    "pop_2",
    "pop_3",
    "printer",
    "private",
    "red_i",
    "remote_job",
    "rje",
    "shell",
    "smtp",
    "sql_net",
    "ssh",
    "sunrpc",
    "supdup",
    "systat",
    "telnet",
    "tftp_u",
    "tim_i",
    "time",
    "urh_i",
    "urp_i",
    "uucp",
    "uucp_path",
    "vmnet",
    "whois",
];
const FLAGS: &[&str] = &[
    "OTH", "REJ", "RSTO", "RSTOS0", "RSTR", "S0", "S1", "S2", "S3", "SF", "SH",
];
const BINARY: &[&str] = &["0", "1"];
const ZERO: &[&str] = &["0"];

/// The vocabulary of each categorical column (same order as
/// [`CATEGORICAL`]), sorted.
pub const VOCABULARY: [&[&str]; 7] = [PROTOCOLS, SERVICES, FLAGS, BINARY, BINARY, ZERO, BINARY];

/// The label of the anomaly class.
pub const NORMAL: &str = "normal.";

const N_NUMERIC: usize = FIELDS - 1 - CATEGORICAL.len();

/// The 121 feature names: numeric columns, then `column-value` one-hots.
pub fn feature_names() -> Vec<String> {
    let mut names: Vec<String> = (0..FIELDS - 1)
        .filter(|c| !CATEGORICAL.contains(c))
        .map(|c| COLUMNS[c].to_string())
        .collect();
    for (col, vocab) in CATEGORICAL.iter().zip(VOCABULARY) {
        names.extend(vocab.iter().map(|v| format!("{}-{v}", COLUMNS[*col])));
    }
    names
}

/// Parsed rows, compact: numeric values and category codes.
#[derive(Debug, Clone, Default)]
pub struct KddTable {
    /// `rows × 34` numeric features, file order.
    pub numeric: Vec<f64>,
    /// `rows × 7` category codes into [`VOCABULARY`].
    pub codes: Vec<u8>,
    /// Whether each row is `normal.` (the anomaly class).
    pub normal: Vec<bool>,
}

impl KddTable {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.normal.len()
    }

    /// True without rows.
    pub fn is_empty(&self) -> bool {
        self.normal.is_empty()
    }

    /// Row `i` as 121 features (unscaled).
    pub fn features(&self, i: usize, out: &mut [f64]) {
        out.fill(0.0);
        out[..N_NUMERIC].copy_from_slice(&self.numeric[i * N_NUMERIC..(i + 1) * N_NUMERIC]);
        let mut offset = N_NUMERIC;
        for (j, vocab) in VOCABULARY.iter().enumerate() {
            out[offset + self.codes[i * CATEGORICAL.len() + j] as usize] = 1.0;
            offset += vocab.len();
        }
    }
}

/// Parses KDD CSV text; `origin` names it in errors (line numbers from 1).
pub fn parse_kdd_reader(reader: impl BufRead, origin: &str) -> Result<KddTable> {
    let mut t = KddTable::default();
    for (i, line) in reader.split(b'\n').enumerate() {
        let lineno = i + 1;
        let line = line.with_context(|| format!("{origin}: reading line {lineno}"))?;
        let line = std::str::from_utf8(&line)
            .with_context(|| format!("{origin}: line {lineno} is not UTF-8"))?;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != FIELDS {
            bail!(
                "{origin}: line {lineno} has {} comma-separated fields, expected {FIELDS}",
                fields.len()
            );
        }
        for (c, v) in fields[..FIELDS - 1].iter().enumerate() {
            if let Some(j) = CATEGORICAL.iter().position(|&k| k == c) {
                let code = VOCABULARY[j].iter().position(|w| w == v).with_context(|| {
                    format!(
                        "{origin}: line {lineno}, field {} ({}): unseen category {v:?}, expected one of {}",
                        c + 1,
                        COLUMNS[c],
                        VOCABULARY[j].join(" ")
                    )
                })?;
                t.codes.push(code as u8);
            } else {
                let x: f64 = v
                    .parse()
                    .ok()
                    .filter(|x: &f64| x.is_finite())
                    .with_context(|| {
                        format!(
                            "{origin}: line {lineno}, field {} ({}): {v:?} is not a finite number",
                            c + 1,
                            COLUMNS[c]
                        )
                    })?;
                t.numeric.push(x);
            }
        }
        let label = fields[FIELDS - 1];
        if label.is_empty() {
            bail!("{origin}: line {lineno}, field {FIELDS} (label): empty");
        }
        t.normal.push(label == NORMAL);
    }
    if t.is_empty() {
        bail!("{origin}: no rows");
    }
    Ok(t)
}

/// Parses a KDD CSV file, gzipped or plain.
pub fn parse_kdd(path: &Path) -> Result<KddTable> {
    let origin = path.display().to_string();
    let reader: Box<dyn Read> = if is_gzip(path)? {
        Box::new(GzReader::open(path)?)
    } else {
        Box::new(File::open(path).with_context(|| format!("opening {origin}"))?)
    };
    parse_kdd_reader(BufReader::new(reader), &origin)
}

/// Feature scaling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scaling {
    /// Min-max fitted on the training rows (the paper's protocol).
    #[serde(rename = "minmax")]
    MinMax,
    /// No scaling: what the authors' released loader actually produced.
    #[serde(rename = "unscaled")]
    Unscaled,
}

/// Options of the Table 3 protocol.
#[derive(Debug, Clone, Copy)]
pub struct KddOptions {
    /// Seed of the split and of the test re-mixing.
    pub seed: u64,
    /// Min-max or the authors' unscaled variant.
    pub scaling: Scaling,
    /// Target share of anomalies in the test set.
    pub anomaly_fraction: f64,
}

impl Default for KddOptions {
    fn default() -> Self {
        KddOptions {
            seed: 42,
            scaling: Scaling::MinMax,
            anomaly_fraction: 0.2,
        }
    }
}

/// The Table 3 data.
#[derive(Debug)]
pub struct Kdd99 {
    /// float32 `[N_train, 121]`: non-normal rows of the training half.
    pub train_x: Array2<f32>,
    /// float32 `[N_test, 121]`.
    pub test_x: Array2<f32>,
    /// `[N_test]`: 1 for `normal.` (the anomaly class), else 0.
    pub test_y: Vec<i64>,
    /// Per-feature minimum over the training rows (before scaling).
    pub train_min: Vec<f64>,
    /// Per-feature maximum over the training rows (before scaling).
    pub train_max: Vec<f64>,
    /// The scaling applied.
    pub scaling: Scaling,
}

/// Applies the Table 3 protocol to parsed rows.
pub fn kdd99_split(table: &KddTable, opts: &KddOptions) -> Result<Kdd99> {
    if !(0.0..1.0).contains(&opts.anomaly_fraction) {
        bail!(
            "anomaly fraction {} is not in [0, 1)",
            opts.anomaly_fraction
        );
    }
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut order: Vec<usize> = (0..table.len()).collect();
    order.shuffle(&mut rng);
    let (train_half, test_half) = order.split_at(table.len() / 2);
    let train: Vec<usize> = train_half
        .iter()
        .copied()
        .filter(|&i| !table.normal[i])
        .collect();
    let inliers: Vec<usize> = test_half
        .iter()
        .copied()
        .filter(|&i| !table.normal[i])
        .collect();
    let mut outliers: Vec<usize> = test_half
        .iter()
        .copied()
        .filter(|&i| table.normal[i])
        .collect();
    if train.is_empty() || inliers.is_empty() {
        bail!(
            "KDD split left no non-normal rows ({} rows in all)",
            table.len()
        );
    }
    outliers.shuffle(&mut rng);
    let f = opts.anomaly_fraction;
    let want = (inliers.len() as f64 * f / (1.0 - f)).floor() as usize;
    outliers.truncate(want);
    let mut test: Vec<(usize, i64)> = inliers.iter().map(|&i| (i, 0)).collect();
    test.extend(outliers.iter().map(|&i| (i, 1)));
    test.shuffle(&mut rng);

    let mut row = vec![0.0; N_FEATURES];
    let mut lo = vec![f64::INFINITY; N_FEATURES];
    let mut hi = vec![f64::NEG_INFINITY; N_FEATURES];
    for &i in &train {
        table.features(i, &mut row);
        for (j, &x) in row.iter().enumerate() {
            lo[j] = lo[j].min(x);
            hi[j] = hi[j].max(x);
        }
    }
    // scikit-learn: scale = 1 / range (1 for a constant column), x·scale + (-min·scale).
    let scale: Vec<f64> = lo
        .iter()
        .zip(&hi)
        .map(|(l, h)| if h > l { 1.0 / (h - l) } else { 1.0 })
        .collect();
    let shift: Vec<f64> = lo.iter().zip(&scale).map(|(l, s)| -l * s).collect();
    let matrix = |rows: &mut dyn Iterator<Item = usize>| -> Array2<f32> {
        let mut out: Vec<f32> = Vec::new();
        let mut n = 0usize;
        let mut row = vec![0.0; N_FEATURES];
        for i in rows {
            table.features(i, &mut row);
            out.extend(row.iter().enumerate().map(|(j, &x)| match opts.scaling {
                Scaling::MinMax => (x * scale[j] + shift[j]) as f32,
                Scaling::Unscaled => x as f32,
            }));
            n += 1;
        }
        Array2::from_shape_vec((n, N_FEATURES), out).expect("N_FEATURES values per row")
    };
    let test_y: Vec<i64> = test.iter().map(|&(_, y)| y).collect();
    Ok(Kdd99 {
        train_x: matrix(&mut train.iter().copied()),
        test_x: matrix(&mut test.iter().map(|&(i, _)| i)),
        test_y,
        train_min: lo,
        train_max: hi,
        scaling: opts.scaling,
    })
}

/// KDD99 from the cache, after checking it against the manifest.
pub fn load_kdd99(store: &Store, opts: &KddOptions) -> Result<Kdd99> {
    let dir = store.require(&Manifest::builtin("kdd99")?)?;
    kdd99_split(&parse_kdd(&dir.join(FILE))?, opts)
}
