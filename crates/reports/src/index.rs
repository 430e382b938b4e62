//! `reports/index.md`: every target × profile of the reports tree, with its
//! status, date, wall time and a link to its report.
//!
//! A target is a directory of the reports tree holding at least one profile
//! directory ([`PROFILES`]); other entries (`hashes/`, files) are skipped.
//! Status: `complete` when `results.json` exists, `partial` when only the
//! profile directory does (a run started or interrupted), `missing` else.
//! The date is `results.json`'s `finished` (a string, shown as it is, or
//! Unix seconds), else its `provenance.unix_time`, else the file's
//! modification time, in UTC; the wall time is its `wall_seconds`.

use anyhow::{Context, Result};
use serde_json::Value;
use std::path::Path;
use std::time::UNIX_EPOCH;

/// The profiles of a target, in the order the index lists them.
pub const PROFILES: [&str; 3] = ["smoke", "quick", "paper"];

/// State of one target × profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Complete,
    Partial,
    Missing,
}

impl Status {
    /// The word shown in the index.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Complete => "complete",
            Status::Partial => "partial",
            Status::Missing => "missing",
        }
    }
}

/// One line of the index.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub target: String,
    pub profile: String,
    pub status: Status,
    /// `YYYY-MM-DD HH:MM UTC`, or the `finished` string as written.
    pub date: Option<String>,
    pub wall_seconds: Option<f64>,
    /// Training time summed over the target's runs (`train_seconds`), which
    /// a resumed or re-evaluated invocation keeps.
    pub train_seconds: Option<f64>,
    /// `<target>/<profile>/report.md`, when it exists.
    pub report: Option<String>,
}

/// Every target × profile of `reports_dir` (plus the `known` targets, run or
/// not), targets sorted, profiles in [`PROFILES`] order.
pub fn entries(reports_dir: &Path, known: &[&str]) -> Result<Vec<Entry>> {
    let mut targets: Vec<String> = known.iter().map(|t| t.to_string()).collect();
    let dir = std::fs::read_dir(reports_dir)
        .with_context(|| format!("reading {}", reports_dir.display()))?;
    for e in dir {
        let e = e?;
        let p = e.path();
        if e.file_type()?.is_dir() && PROFILES.iter().any(|pr| p.join(pr).is_dir()) {
            targets.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    targets.sort();
    targets.dedup();
    let mut out = Vec::new();
    for target in targets {
        for profile in PROFILES {
            out.push(entry(reports_dir, &target, profile)?);
        }
    }
    Ok(out)
}

fn entry(reports_dir: &Path, target: &str, profile: &str) -> Result<Entry> {
    let dir = reports_dir.join(target).join(profile);
    let results = dir.join("results.json");
    let report = format!("{target}/{profile}/report.md");
    let mut e = Entry {
        target: target.to_string(),
        profile: profile.to_string(),
        status: Status::Missing,
        date: None,
        wall_seconds: None,
        train_seconds: None,
        report: reports_dir.join(&report).is_file().then_some(report),
    };
    if results.is_file() {
        let text = std::fs::read_to_string(&results)
            .with_context(|| format!("reading {}", results.display()))?;
        let v: Value = serde_json::from_str(&text)
            .with_context(|| format!("parsing {}", results.display()))?;
        e.status = Status::Complete;
        e.wall_seconds = v["wall_seconds"].as_f64();
        e.train_seconds = v["train_seconds"].as_f64();
        e.date = match &v["finished"] {
            Value::String(s) => Some(s.clone()),
            f => f
                .as_u64()
                .or_else(|| v["provenance"]["unix_time"].as_u64())
                .or_else(|| mtime(&results))
                .map(utc),
        };
    } else if dir.is_dir() {
        e.status = Status::Partial;
        e.date = mtime(&dir).map(utc);
    }
    Ok(e)
}

/// The markdown of the index.
pub fn render(entries: &[Entry]) -> String {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.target.clone(),
                e.profile.clone(),
                e.status.as_str().to_string(),
                e.date.clone().unwrap_or_else(|| "—".into()),
                e.wall_seconds.map_or_else(|| "—".into(), duration),
                e.train_seconds.map_or_else(|| "—".into(), duration),
                e.report
                    .as_ref()
                    .map_or_else(|| "—".into(), |r| format!("[report]({r})")),
            ]
        })
        .collect();
    let mut s = String::from(
        "# Reports\n\nEvery target × profile of this directory. complete: `results.json` written; \
         partial: started, no results yet; missing: not run. Wall time: the last invocation (re-running a \
         finished target only re-evaluates it); training: the sum of its runs' training times.\n\n",
    );
    s += &crate::markdown::table(
        &[
            "target",
            "profile",
            "status",
            "date",
            "wall time",
            "training",
            "report",
        ],
        &rows,
    );
    s
}

/// Writes `reports_dir/index.md` (atomically), listing the `known` targets
/// and any other found there.
pub fn write_index(reports_dir: &Path, known: &[&str]) -> Result<()> {
    let md = render(&entries(reports_dir, known)?);
    meg_plumbing::io::write_atomic(&reports_dir.join("index.md"), md.as_bytes())
}

fn mtime(p: &Path) -> Option<u64> {
    let t = std::fs::metadata(p).ok()?.modified().ok()?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_secs())
}

/// Unix seconds as `YYYY-MM-DD HH:MM UTC`.
pub fn utc(secs: u64) -> String {
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// A wall time for people: `42.0 s`, `8 min 54 s`, `2 h 05 min`.
pub fn duration(secs: f64) -> String {
    let s = secs.round() as u64;
    if secs < 60.0 {
        format!("{secs:.1} s")
    } else if s < 3600 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{} h {:02} min", s / 3600, s % 3600 / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn put(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn formats_dates_and_durations() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_795_970_963), "2026-11-29 16:49 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(duration(4.24), "4.2 s");
        assert_eq!(duration(533.86), "8 min 54 s");
        assert_eq!(duration(7_500.0), "2 h 05 min");
    }

    #[test]
    fn lists_every_target_and_profile_with_status() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        put(
            root,
            "fig2/quick/results.json",
            &json!({"wall_seconds": 533.86, "train_seconds": 1200.0, "provenance": {"unix_time": 1_795_970_963u64}})
                .to_string(),
        );
        put(root, "fig2/quick/report.md", "# fig2\n");
        put(
            root,
            "fig2/smoke/results.json",
            &json!({"finished": "2026-12-01T10:00:00Z", "wall_seconds": 4.2}).to_string(),
        );
        put(root, "table1/paper/runs/a/metrics.csv", "x\n");
        put(root, "hashes/fig2.smoke.json", "{}");
        put(root, "hashes.lock", "");
        write_index(root, &["table9"]).unwrap();
        let md = std::fs::read_to_string(root.join("index.md")).unwrap();
        let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| ")).collect();
        assert_eq!(
            rows[0],
            "| target | profile | status | date | wall time | training | report |"
        );
        assert_eq!(
            rows[1],
            "| fig2 | smoke | complete | 2026-12-01T10:00:00Z | 4.2 s | — | — |"
        );
        assert_eq!(
            rows[2],
            "| fig2 | quick | complete | 2026-11-29 16:49 UTC | 8 min 54 s | 20 min 00 s | [report](fig2/quick/report.md) |"
        );
        assert_eq!(rows[3], "| fig2 | paper | missing | — | — | — | — |");
        assert_eq!(rows[4], "| table1 | smoke | missing | — | — | — | — |");
        assert_eq!(rows[6].split(" | ").nth(2), Some("partial"));
        assert!(rows[6].contains(" UTC |"), "{}", rows[6]);
        assert_eq!(rows[7], "| table9 | smoke | missing | — | — | — | — |");
        assert_eq!(rows.len(), 10, "{md}");
        assert!(!md.contains("hashes"));
    }

    #[test]
    fn falls_back_to_the_file_time() {
        let dir = tempfile::tempdir().unwrap();
        put(dir.path(), "t/smoke/results.json", "{}");
        let e = entries(dir.path(), &[]).unwrap();
        assert_eq!(e[0].status, Status::Complete);
        let file_time = mtime(&dir.path().join("t/smoke/results.json")).unwrap();
        assert_eq!(e[0].date, Some(utc(file_time)));
        assert_eq!(e[0].wall_seconds, None);
    }
}
