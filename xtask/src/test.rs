//! `cargo xtask test`: provision libtorch when needed, run every test, then
//! `cargo xtask verify` (the smoke profile of every target against
//! `reports/hashes.lock`), and end with the list of tests that did not run
//! (`#[ignore]`d ones with their reasons, and those whose input is missing;
//! see `inputs.rs`) and the command that runs them.
//!
//! Extra arguments go to `cargo test`; with any, the verify step is skipped
//! (a filtered run is not the whole suite). `--numeric-paths` instead runs the
//! golden and numerics tests under each CPU kernel path (`numeric_paths.rs`).

use crate::inputs::{self, NotRun};
use crate::util::{cargo, workspace_root};
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

/// What the task was asked to do.
#[derive(Debug, PartialEq, Eq)]
enum Options {
    /// The whole suite; `cargo_args` go to `cargo test` (and skip verify).
    Suite { cargo_args: Vec<String> },
    /// The golden and numerics tests under every numeric path.
    NumericPaths,
}

fn parse(args: &[String]) -> Result<Options> {
    match args {
        [flag] if flag == "--numeric-paths" => Ok(Options::NumericPaths),
        _ if args.iter().any(|a| a == "--numeric-paths") => {
            bail!("`--numeric-paths` takes no other arguments")
        }
        _ => Ok(Options::Suite {
            cargo_args: args.to_vec(),
        }),
    }
}

pub fn run(args: &[String]) -> Result<()> {
    let opts = parse(args)?;
    let lt = crate::setup::provision()?;
    eprintln!("libtorch {} at {}", lt.version, lt.dir.display());
    let cargo_args = match opts {
        Options::NumericPaths => return crate::numeric_paths::run(),
        Options::Suite { cargo_args } => cargo_args,
    };
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let skipped = inputs::missing(ci, |p| p.exists())?;
    let mut cmd = cargo();
    cmd.current_dir(workspace_root())
        .args(["test", "--workspace", "--release", "--exclude", "xtask"])
        .args(with_skips(&cargo_args, &skipped));
    // Tests run many small models concurrently: one intra-op thread each avoids oversubscribing the cores (unless the user chose a count).
    if std::env::var_os("MEG_THREADS").is_none() {
        cmd.env("MEG_THREADS", "1");
    }
    let ignored = run_collecting_ignored(&mut cmd)?;
    // xtask's own unit tests build without libtorch.
    crate::util::run_status(
        cargo()
            .current_dir(workspace_root())
            .args(["test", "--quiet", "-p", "xtask"]),
    )?;
    if cargo_args.is_empty() {
        crate::verify::run(&[])?;
    }
    print_not_run(&ignored, &skipped);
    Ok(())
}

/// `args` with `--skip NAME` for each test not to run, after a `--`.
fn with_skips(args: &[String], skip: &[NotRun]) -> Vec<String> {
    let mut out = args.to_vec();
    if skip.is_empty() {
        return out;
    }
    if !out.iter().any(|a| a == "--") {
        out.push("--".into());
    }
    for s in skip {
        out.extend(["--skip".to_string(), s.test.clone()]);
    }
    out
}

/// Runs `cmd` (a `cargo test`), echoing its standard output, and returns the
/// tests libtest reported as ignored; fails if the tests fail.
fn run_collecting_ignored(cmd: &mut Command) -> Result<Vec<NotRun>> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start {cmd:?}"))?;
    let mut ignored = Vec::new();
    let out = std::io::stdout();
    for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
        let line = line?;
        {
            let mut o = out.lock();
            writeln!(o, "{line}")?;
            o.flush()?;
        }
        ignored.extend(ignored_test(&line));
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(ignored)
}

/// `test NAME ... ignored[, REASON]` from libtest's output.
fn ignored_test(line: &str) -> Option<NotRun> {
    let rest = line.strip_prefix("test ")?;
    let (name, outcome) = rest.split_once(" ... ")?;
    let why = outcome.strip_prefix("ignored")?;
    let why = why.strip_prefix(", ").unwrap_or("no reason given");
    Some(NotRun {
        test: name.to_string(),
        why: why.to_string(),
    })
}

fn print_not_run(ignored: &[NotRun], skipped: &[NotRun]) {
    if ignored.is_empty() && skipped.is_empty() {
        eprintln!("every test ran");
        return;
    }
    eprintln!(
        "\nnot run by this command ({}):",
        ignored.len() + skipped.len()
    );
    for t in ignored {
        eprintln!("  {}: ignored, {}", t.test, t.why);
    }
    for t in skipped {
        eprintln!("  {}: input missing, {}", t.test, t.why);
    }
    if !ignored.is_empty() {
        eprintln!("run an ignored one with: cargo xtask test -- --ignored --exact NAME");
    }
    if !skipped.is_empty() {
        eprintln!("provide the input, then run: cargo xtask test -- NAME");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse() {
        assert_eq!(
            parse(&["--numeric-paths".into()]).unwrap(),
            Options::NumericPaths
        );
        assert_eq!(
            parse(&["-p".into(), "meg-nn".into()]).unwrap(),
            Options::Suite {
                cargo_args: vec!["-p".into(), "meg-nn".into()]
            }
        );
        assert!(parse(&["--numeric-paths".into(), "-p".into()]).is_err());
    }

    #[test]
    fn libtest_ignored_lines_are_collected_with_their_reason() {
        let t = ignored_test("test bench_feature_extraction ... ignored, benchmark: run by hand")
            .unwrap();
        assert_eq!(t.test, "bench_feature_extraction");
        assert_eq!(t.why, "benchmark: run by hand");
        assert_eq!(
            ignored_test("test a::b ... ignored").unwrap().why,
            "no reason given"
        );
        assert!(ignored_test("test a ... ok").is_none());
        assert!(ignored_test("running 3 tests").is_none());
    }

    #[test]
    fn skips_go_after_the_separator() {
        let skip = [NotRun {
            test: "t1".into(),
            why: String::new(),
        }];
        assert_eq!(with_skips(&[], &skip), ["--", "--skip", "t1"]);
        let args: Vec<String> = ["-p", "x", "--", "--nocapture"].map(String::from).to_vec();
        assert_eq!(
            with_skips(&args, &skip),
            ["-p", "x", "--", "--nocapture", "--skip", "t1"]
        );
        assert_eq!(with_skips(&args, &[]), args);
    }
}
