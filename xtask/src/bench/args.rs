//! The flags of `cargo xtask bench`.

use anyhow::{anyhow, bail, Result};
use lexopt::prelude::*;

/// The usage line, printed by `--help` and after a wrong flag.
pub const USAGE: &str = "usage: cargo xtask bench [--only NAME[,NAME...]] [--json] [--device cpu|cuda] [--runs N] [--wait-quiet] [--smoke]";

/// What `cargo xtask bench` was asked to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Workloads to measure (matmul is always added); empty: all.
    pub only: Vec<String>,
    /// Print the JSON report instead of the markdown one.
    pub json: bool,
    /// `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// Processes per side and workload (1 with `--smoke`).
    pub runs: usize,
    /// Start each process once the machine is quiet.
    pub wait_quiet: bool,
    /// Tiny sizes, one run: checks that everything runs.
    pub smoke: bool,
    /// Print the usage and do nothing else.
    pub help: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            only: Vec::new(),
            json: false,
            device: "cpu".into(),
            runs: 5,
            wait_quiet: false,
            smoke: false,
            help: false,
        }
    }
}

impl Options {
    /// Parses the arguments after `bench`.
    pub fn parse(args: &[String]) -> Result<Options> {
        let mut o = Options::default();
        let mut p = lexopt::Parser::from_args(args);
        while let Some(arg) = p.next().map_err(|e| anyhow!("{e}\n{USAGE}"))? {
            match arg {
                Long("only") => {
                    let v = p.value()?.string()?;
                    o.only.extend(v.split(',').map(String::from));
                }
                Long("device") => o.device = p.value()?.string()?,
                Long("runs") => {
                    let v = p.value()?.string()?;
                    o.runs = match v.parse() {
                        Ok(n) if n > 0 => n,
                        _ => bail!("--runs `{v}`: expected a positive integer"),
                    }
                }
                Long("json") => o.json = true,
                Long("smoke") => o.smoke = true,
                Long("wait-quiet") => o.wait_quiet = true,
                Long("help") | Short('h') => o.help = true,
                _ => bail!("{}\n{USAGE}", arg.unexpected()),
            }
        }
        if o.device != "cpu" && o.device != "cuda" && !o.device.starts_with("cuda:") {
            bail!("--device `{}`: expected cpu, cuda or cuda:N", o.device);
        }
        if o.smoke {
            o.runs = 1;
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &[&str]) -> Result<Options> {
        Options::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn flags() {
        let o = parse(&["--only", "toy,kdd", "--runs", "7", "--json"]).unwrap();
        assert_eq!((o.only.len(), o.runs, o.json), (2, 7, true));
        assert_eq!(parse(&[]).unwrap(), Options::default());
        let o = parse(&[
            "--only=toy",
            "--only",
            "kdd",
            "--device=cuda:1",
            "--wait-quiet",
        ])
        .unwrap();
        assert_eq!(o.only, ["toy", "kdd"]);
        assert_eq!((o.device.as_str(), o.wait_quiet), ("cuda:1", true));
        assert_eq!(parse(&["--smoke", "--runs", "9"]).unwrap().runs, 1);
        assert!(parse(&["--help"]).unwrap().help);
        assert!(parse(&["--runs", "0"]).is_err());
        assert!(parse(&["--runs"]).is_err());
        assert!(parse(&["--device", "tpu"]).is_err());
        assert!(parse(&["--nope"]).is_err());
        assert!(parse(&["toy"]).is_err());
    }
}
