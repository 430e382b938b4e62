//! The KDD99 stand-in: connection records, as the gzipped CSV.

use super::{
    ensure,
    formats::{gzip, write_file},
    StandIn, VERSION,
};
use crate::kdd::{self, kdd99_split, parse_kdd, Kdd99, KddOptions};
use anyhow::{ensure as check, Result};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// KDD99 stand-in size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KddSpec {
    /// Rows in all; 30% of them `normal.`.
    pub rows: usize,
    /// Generator seed.
    pub seed: u64,
}

impl Default for KddSpec {
    fn default() -> Self {
        KddSpec {
            rows: 4000,
            seed: 1,
        }
    }
}

/// Kinds of rows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Normal,
    Smurf,
    Neptune,
    Probe,
}

/// Whether column `c` is a rate written with two decimals.
fn is_rate(c: usize) -> bool {
    (24..=30).contains(&c) || (33..=40).contains(&c)
}

/// The option that `x` in [0, 1] falls on.
fn choose<'a>(x: f64, options: &[&'a str]) -> &'a str {
    options[((x * options.len() as f64) as usize).min(options.len() - 1)]
}

/// One CSV line (no newline) of `family`; `j` counts the probe rows, which
/// cycle through every protocol, service, flag and binary value.
fn kdd_line(family: Family, j: usize, rng: &mut ChaCha8Rng) -> String {
    let [protocols, services, flags, ..] = kdd::VOCABULARY;
    let mut v = [0.0f64; 41];
    let mut u = |a: f64, b: f64| rng.random_range(a..=b);
    let (cat, label): ([&str; 3], &str) = match family {
        Family::Normal => {
            let r = u(0.0, 1.0);
            let cat = if r < 0.85 {
                let services = [
                    "http", "http", "http", "http", "http", "http", "smtp", "smtp", "ftp_data",
                    "ftp", "telnet", "pop_3", "finger", "auth", "IRC",
                ];
                let flag = if u(0.0, 1.0) < 0.93 {
                    "SF"
                } else {
                    choose(u(0.0, 1.0), &["S1", "RSTO", "REJ", "S3", "RSTR"])
                };
                ["tcp", choose(u(0.0, 1.0), &services), flag]
            } else if r < 0.97 {
                let services = ["domain_u", "domain_u", "domain_u", "ntp_u", "private"];
                ["udp", choose(u(0.0, 1.0), &services), "SF"]
            } else {
                let services = ["ecr_i", "eco_i", "urp_i", "tim_i"];
                ["icmp", choose(u(0.0, 1.0), &services), "SF"]
            };
            v[0] = if u(0.0, 1.0) < 0.8 {
                0.0
            } else {
                u(1.0, 300.0)
            };
            (v[4], v[5]) = match cat {
                ["tcp", "http", _] => (u(150.0, 350.0), u(200.0, 8000.0)),
                ["tcp", ..] => (u(4.2, 7.8).exp(), u(5.5, 9.5).exp()),
                ["udp", ..] => (u(30.0, 120.0), u(30.0, 300.0)),
                _ => (u(8.0, 64.0), 0.0),
            };
            v[9] = if u(0.0, 1.0) < 0.8 { 0.0 } else { u(1.0, 5.0) };
            v[11] = (cat[0] == "tcp" && cat[2] == "SF") as u8 as f64;
            v[12] = (u(0.0, 1.0) < 0.05) as u8 as f64;
            v[16] = if u(0.0, 1.0) < 0.95 { 0.0 } else { u(1.0, 3.0) };
            v[18] = (u(0.0, 1.0) < 0.03) as u8 as f64;
            v[21] = (cat[1].starts_with("ftp") && u(0.0, 1.0) < 0.1) as u8 as f64;
            v[22] = u(1.0, 20.0);
            v[23] = u(1.0, 25.0);
            v[24] = if u(0.0, 1.0) < 0.95 {
                0.0
            } else {
                u(0.01, 0.1)
            };
            v[25] = v[24];
            v[28] = if u(0.0, 1.0) < 0.9 { 1.0 } else { u(0.5, 1.0) };
            v[29] = if u(0.0, 1.0) < 0.8 { 0.0 } else { u(0.0, 0.2) };
            v[30] = if u(0.0, 1.0) < 0.6 { 0.0 } else { u(0.0, 0.4) };
            v[31] = u(1.0, 255.0);
            v[32] = u(1.0, 255.0);
            v[33] = u(0.6, 1.0);
            v[34] = u(0.0, 0.05);
            v[35] = u(0.0, 0.3);
            v[36] = u(0.0, 0.1);
            v[37] = u(0.0, 0.02);
            v[39] = u(0.0, 0.05);
            v[40] = u(0.0, 0.02);
            (cat, kdd::NORMAL)
        }
        Family::Smurf => {
            v[4] = if u(0.0, 1.0) < 0.8 { 1032.0 } else { 520.0 };
            v[22] = u(480.0, 511.0);
            v[23] = v[22];
            v[28] = 1.0;
            v[31] = 255.0;
            v[32] = 255.0;
            v[33] = 1.0;
            v[35] = if u(0.0, 1.0) < 0.9 { 1.0 } else { u(0.9, 1.0) };
            (["icmp", "ecr_i", "SF"], "smurf.")
        }
        Family::Neptune => {
            let s0 = u(0.0, 1.0) < 0.85;
            let (serror, rerror) = if s0 { (1.0, 0.0) } else { (0.0, 1.0) };
            let service = choose(u(0.0, 1.0), services);
            v[22] = u(100.0, 280.0);
            v[23] = u(1.0, 25.0);
            (v[24], v[25], v[26], v[27]) = (serror, serror, rerror, rerror);
            v[28] = u(0.0, 0.1);
            v[29] = u(0.04, 0.08);
            v[31] = 255.0;
            v[32] = u(1.0, 25.0);
            v[33] = u(0.0, 0.1);
            v[34] = u(0.04, 0.08);
            (v[37], v[38], v[39], v[40]) = (serror, serror, rerror, rerror);
            (["tcp", service, if s0 { "S0" } else { "REJ" }], "neptune.")
        }
        Family::Probe => {
            v[0] = if u(0.0, 1.0) < 0.8 { 0.0 } else { u(1.0, 5.0) };
            v[4] = u(0.0, 50.0);
            v[5] = if u(0.0, 1.0) < 0.8 {
                0.0
            } else {
                u(0.0, 100.0)
            };
            v[6] = j.is_multiple_of(7) as u8 as f64;
            v[11] = j.is_multiple_of(3) as u8 as f64;
            v[21] = j.is_multiple_of(5) as u8 as f64;
            v[22] = u(1.0, 10.0);
            v[23] = u(1.0, 10.0);
            v[26] = u(0.5, 1.0);
            v[27] = u(0.5, 1.0);
            v[28] = u(0.0, 0.3);
            v[29] = u(0.5, 1.0);
            v[31] = u(1.0, 255.0);
            v[32] = u(1.0, 20.0);
            v[33] = u(0.0, 0.2);
            v[34] = u(0.5, 1.0);
            v[35] = u(0.5, 1.0);
            v[39] = u(0.3, 1.0);
            v[40] = u(0.3, 1.0);
            let cat = [
                protocols[j % protocols.len()],
                services[j % services.len()],
                flags[j % flags.len()],
            ];
            (cat, ["satan.", "ipsweep.", "portsweep.", "nmap."][j % 4])
        }
    };
    let mut fields: Vec<String> = v
        .iter()
        .enumerate()
        .map(|(c, x)| match c {
            1..=3 => cat[c - 1].to_string(),
            _ if is_rate(c) => format!("{x:.2}"),
            _ => format!("{}", x.round() as i64),
        })
        .collect();
    fields.push(label.to_string());
    fields.join(",")
}

impl StandIn for KddSpec {
    fn dir_name(&self) -> String {
        format!("kdd99-{VERSION}-{}-s{}", self.rows, self.seed)
    }

    fn write(&self, dir: &Path) -> Result<()> {
        check!(
            self.rows >= 20,
            "KDD99 stand-in: {} rows, need 20",
            self.rows
        );
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let n = self.rows;
        let (normal, smurf, neptune) = (n * 3 / 10, n * 315 / 1000, n * 245 / 1000);
        let mut families = vec![Family::Normal; normal];
        families.extend(std::iter::repeat_n(Family::Smurf, smurf));
        families.extend(std::iter::repeat_n(Family::Neptune, neptune));
        families.extend(std::iter::repeat_n(
            Family::Probe,
            n - normal - smurf - neptune,
        ));
        families.shuffle(&mut rng);
        let mut text = String::with_capacity(n * 160);
        let mut probes = 0;
        for f in families {
            text.push_str(&kdd_line(f, probes, &mut rng));
            text.push('\n');
            probes += (f == Family::Probe) as usize;
        }
        write_file(dir, kdd::FILE, &gzip(text.as_bytes(), 6))
    }
}

/// The default KDD99 stand-in under the Table 3 protocol, via [`parse_kdd`]
/// and [`kdd99_split`].
pub fn kdd99(root: &Path, opts: &KddOptions) -> Result<Kdd99> {
    let dir = ensure(root, &KddSpec::default())?;
    kdd99_split(&parse_kdd(&dir.join(kdd::FILE))?, opts)
}
