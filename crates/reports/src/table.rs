//! Comparison tables: our numbers beside the paper's, as a polars DataFrame
//! written to `table.csv` (full precision, for machines) and `table.md`
//! (rounded, for people).
//!
//! The frame has the columns [`COLUMNS`]: `setting` and `metric` (strings),
//! then `ours`, `ours_std`, `paper`, `paper_std` and `diff = ours - paper`
//! (float64, null where unknown, and where the row is not comparable: a
//! stand-in's paper value is a reference, not a target).
//!
//! In markdown, numbers keep 4 significant digits (integers are shown whole,
//! magnitudes below 1e-4 in scientific notation), a column `c_std` is folded
//! into its column `c` as `value ± std` (the std with at least the value's
//! decimals and at least 2 significant digits), and nulls are shown as `—`.

use anyhow::{Context, Result};
use polars::prelude::*;
use std::path::Path;

/// Column names of a comparison frame, in order.
pub const COLUMNS: [&str; 7] = [
    "setting",
    "metric",
    "ours",
    "ours_std",
    "paper",
    "paper_std",
    "diff",
];

/// What a missing number looks like in markdown.
pub const MISSING: &str = "—";

/// Significant digits of numbers in markdown tables.
pub const SIGNIFICANT_DIGITS: i32 = 4;

/// One line of a comparison table: a metric of a setting (method, data set,
/// hyperparameter), ours and, when the paper reports it, the paper's.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub setting: String,
    pub metric: String,
    pub ours: f64,
    /// Standard deviation over seeds or splits, when there are several.
    pub ours_std: Option<f64>,
    pub paper: Option<f64>,
    pub paper_std: Option<f64>,
    /// Whether ours and the paper's were measured on the same data in the
    /// same way: only then is `diff` computed (a stand-in shows the paper's
    /// number for reference, without a difference).
    pub comparable: bool,
}

impl Row {
    /// Our value of `metric` for `setting`, with no std and no paper value.
    pub fn new(setting: impl Into<String>, metric: impl Into<String>, ours: f64) -> Self {
        Row {
            setting: setting.into(),
            metric: metric.into(),
            ours,
            ours_std: None,
            paper: None,
            paper_std: None,
            comparable: true,
        }
    }

    /// Sets our standard deviation.
    pub fn std(mut self, std: f64) -> Self {
        self.ours_std = Some(std);
        self
    }

    /// Marks the paper's value as a reference only (ours was measured on other
    /// data or in another feature space): no `diff`.
    pub fn reference_only(mut self) -> Self {
        self.comparable = false;
        self
    }

    /// Sets the paper's value and, if it reports one, its ± (`None` = no ±).
    pub fn paper(mut self, value: f64, std: Option<f64>) -> Self {
        self.paper = Some(value);
        self.paper_std = std;
        self
    }
}

/// The comparison frame of `rows` (columns [`COLUMNS`], rows in the given order).
pub fn frame(rows: &[Row]) -> Result<DataFrame> {
    let strs = |f: fn(&Row) -> &str| rows.iter().map(f).collect::<Vec<_>>();
    let nums = |f: fn(&Row) -> Option<f64>| rows.iter().map(f).collect::<Vec<_>>();
    let columns = vec![
        Column::new(COLUMNS[0].into(), strs(|r| &r.setting)),
        Column::new(COLUMNS[1].into(), strs(|r| &r.metric)),
        Column::new(COLUMNS[2].into(), nums(|r| Some(r.ours))),
        Column::new(COLUMNS[3].into(), nums(|r| r.ours_std)),
        Column::new(COLUMNS[4].into(), nums(|r| r.paper)),
        Column::new(COLUMNS[5].into(), nums(|r| r.paper_std)),
        Column::new(
            COLUMNS[6].into(),
            nums(|r| r.paper.filter(|_| r.comparable).map(|p| r.ours - p)),
        ),
    ];
    Ok(DataFrame::new(rows.len(), columns)?)
}

/// Writes `df` as CSV (header, full-precision floats, empty cells for nulls)
/// to `path`, atomically.
pub fn write_csv(df: &mut DataFrame, path: &Path) -> Result<()> {
    meg_plumbing::io::write_atomic_with(path, |tmp| {
        let file = std::fs::File::create(tmp)?;
        CsvWriter::new(file).include_header(true).finish(df)?;
        Ok(())
    })
}

/// Renders any frame as a markdown table: every column in order, a column
/// named `c_std` next to a column `c` folded into it as `value ± std`.
pub fn markdown(df: &DataFrame) -> Result<String> {
    let names: Vec<&str> = df.get_column_names().iter().map(|s| s.as_str()).collect();
    let std_of = |name: &str| {
        let std = format!("{name}_std");
        names.iter().position(|n| *n == std)
    };
    let shown: Vec<usize> = (0..names.len())
        .filter(|&i| {
            !names[i]
                .strip_suffix("_std")
                .is_some_and(|base| names.contains(&base))
        })
        .collect();
    let header: Vec<&str> = shown.iter().map(|&i| names[i]).collect();
    let columns = df.columns();
    let mut rows = Vec::with_capacity(df.height());
    for r in 0..df.height() {
        let mut cells = Vec::with_capacity(shown.len());
        for &c in &shown {
            let value = columns[c].get(r)?;
            let cell = match std_of(names[c]).map(|s| columns[s].get(r)).transpose()? {
                Some(std) => value_pm_std(&value, &std),
                None => cell(&value),
            };
            cells.push(cell.replace('|', "\\|"));
        }
        rows.push(cells);
    }
    Ok(crate::markdown::table(&header, &rows))
}

/// Writes `dir/table.csv` and `dir/table.md` for `rows`; returns the frame.
pub fn write_table(dir: &Path, rows: &[Row]) -> Result<DataFrame> {
    let mut df = frame(rows)?;
    write_csv(&mut df, &dir.join("table.csv"))?;
    let md = markdown(&df).context("rendering table.md")?;
    meg_plumbing::io::write_atomic(&dir.join("table.md"), md.as_bytes())?;
    Ok(df)
}

/// Formats a number with [`SIGNIFICANT_DIGITS`] significant digits.
pub fn format_number(x: f64) -> String {
    match decimals(x, SIGNIFICANT_DIGITS) {
        Some(d) => format!("{x:.d$}"),
        None => format!("{x:.*e}", (SIGNIFICANT_DIGITS - 1) as usize),
    }
}

/// Decimals that show `x` with `sig` significant digits; `None` for
/// magnitudes below 1e-4, which read better in scientific notation.
fn decimals(x: f64, sig: i32) -> Option<usize> {
    if !x.is_finite() || x.fract() == 0.0 {
        return Some(0);
    }
    if x.abs() < 1e-4 {
        return None;
    }
    let exp = x.abs().log10().floor() as i32;
    Some((sig - 1 - exp).clamp(0, 12) as usize)
}

fn cell(v: &AnyValue) -> String {
    match v {
        AnyValue::Null => MISSING.to_string(),
        AnyValue::String(s) => s.to_string(),
        AnyValue::Float64(x) => format_number(*x),
        AnyValue::Float32(x) => format_number(f64::from(*x)),
        other => other.to_string(),
    }
}

fn value_pm_std(value: &AnyValue, std: &AnyValue) -> String {
    let (AnyValue::Float64(v), AnyValue::Float64(s)) = (value, std) else {
        return cell(value);
    };
    match (decimals(*v, SIGNIFICANT_DIGITS), decimals(*s, 2)) {
        (Some(dv), Some(ds)) => {
            let d = dv.max(ds);
            format!("{v:.d$} ± {s:.d$}")
        }
        _ => format!("{} ± {}", format_number(*v), format_number(*s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Row> {
        vec![
            Row::new("MEG", "IS", 6.4912)
                .std(0.05)
                .paper(6.49, Some(0.05)),
            Row::new("MEG", "FID", 35.614).paper(35.6, None),
            Row::new("WGAN-GP", "modes", 1000.0),
            Row::new("MEG", "KL", 0.0123456).std(0.00042),
            Row::new("a|b", "tiny", 3.2e-6),
        ]
    }

    #[test]
    fn frame_has_columns_nulls_and_diff() {
        let df = frame(&rows()).unwrap();
        let names: Vec<&str> = df.get_column_names().iter().map(|s| s.as_str()).collect();
        assert_eq!(names, COLUMNS);
        assert_eq!(df.height(), 5);
        let diff = df.column("diff").unwrap().f64().unwrap();
        assert!((diff.get(0).unwrap() - 0.0012).abs() < 1e-12);
        assert!((diff.get(1).unwrap() - 0.014).abs() < 1e-12);
        assert_eq!(diff.get(2), None);
        assert_eq!(df.column("paper_std").unwrap().null_count(), 4);
    }

    #[test]
    fn a_reference_only_row_keeps_the_paper_value_without_a_diff() {
        let rows = [Row::new("MEG", "FID", 76.0)
            .paper(35.6, None)
            .reference_only()];
        let df = frame(&rows).unwrap();
        assert_eq!(
            df.column("paper").unwrap().f64().unwrap().get(0),
            Some(35.6)
        );
        assert_eq!(df.column("diff").unwrap().f64().unwrap().get(0), None);
    }

    #[test]
    fn numbers_keep_four_significant_digits() {
        assert_eq!(format_number(6.4912), "6.491");
        assert_eq!(format_number(35.614), "35.61");
        assert_eq!(format_number(0.0123456), "0.01235");
        assert_eq!(format_number(1234.56), "1235");
        assert_eq!(format_number(1000.0), "1000");
        assert_eq!(format_number(-0.95583), "-0.9558");
        assert_eq!(format_number(3.2e-6), "3.200e-6");
    }

    #[test]
    fn markdown_folds_std_and_marks_missing() {
        let md = markdown(&frame(&rows()).unwrap()).unwrap();
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines[0], "| setting | metric | ours | paper | diff |");
        assert_eq!(lines[1], "|---|---|---|---|---|");
        assert_eq!(
            lines[2],
            "| MEG | IS | 6.491 ± 0.050 | 6.490 ± 0.050 | 0.001200 |"
        );
        assert_eq!(lines[3], "| MEG | FID | 35.61 | 35.60 | 0.01400 |");
        assert_eq!(lines[4], "| WGAN-GP | modes | 1000 | — | — |");
        assert_eq!(lines[5], "| MEG | KL | 0.01235 ± 0.00042 | — | — |");
        assert_eq!(lines[6], "| a\\|b | tiny | 3.200e-6 | — | — |");
        assert_eq!(lines.len(), 7);
    }

    #[test]
    fn writes_csv_and_markdown_files() {
        let dir = tempfile::tempdir().unwrap();
        write_table(dir.path(), &rows()[..3]).unwrap();
        let csv = std::fs::read_to_string(dir.path().join("table.csv")).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "setting,metric,ours,ours_std,paper,paper_std,diff"
        );
        let first: Vec<&str> = lines[1].split(',').collect();
        assert_eq!(&first[..2], ["MEG", "IS"]);
        // Full precision in the CSV.
        assert_eq!(first[2].parse::<f64>().unwrap(), 6.4912);
        assert_eq!(first[4].parse::<f64>().unwrap(), 6.49);
        assert!((first[6].parse::<f64>().unwrap() - 0.0012).abs() < 1e-12);
        let third: Vec<&str> = lines[3].split(',').collect();
        assert_eq!(third[0], "WGAN-GP");
        assert_eq!(&third[3..], ["", "", "", ""]);
        assert_eq!(lines.len(), 4);
        let md = std::fs::read_to_string(dir.path().join("table.md")).unwrap();
        assert!(md.contains("| WGAN-GP | modes | 1000 | — | — |"), "{md}");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
