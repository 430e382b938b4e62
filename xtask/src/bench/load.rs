//! How busy the machine is (Linux `/proc/loadavg`), and waiting for it to be quiet.

use std::time::{Duration, Instant};

/// The 1, 5 and 15 minute load averages, and the runnable tasks (the
/// reader included): the first four fields of `/proc/loadavg`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadAvg {
    pub averages: [f64; 3],
    pub runnable: f64,
}

impl LoadAvg {
    /// Parses `/proc/loadavg`'s text: `0.52 0.58 0.59 3/611 12345`.
    pub fn parse(s: &str) -> Option<LoadAvg> {
        let f: Vec<&str> = s.split_whitespace().take(4).collect();
        let num = |i: usize| f.get(i)?.parse().ok();
        Some(LoadAvg {
            averages: [num(0)?, num(1)?, num(2)?],
            runnable: f.get(3)?.split('/').next()?.parse().ok()?,
        })
    }

    /// The current values (None off Linux).
    pub fn now() -> Option<LoadAvg> {
        LoadAvg::parse(&std::fs::read_to_string("/proc/loadavg").ok()?)
    }
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> Option<[f64; 3]> {
    LoadAvg::now().map(|l| l.averages)
}

/// Mean number of other runnable tasks over `samples` readings 0.2 s apart.
fn others_runnable(samples: usize) -> Option<f64> {
    let mut sum = 0.0;
    for i in 0..samples {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(200));
        }
        sum += LoadAvg::now()?.runnable - 1.0;
    }
    Some(sum / samples as f64)
}

/// Waits (up to 30 minutes) until no other task has been runnable for 2
/// seconds; returns whether that happened.
pub fn wait_quiet() -> bool {
    let t = Instant::now();
    let mut said = false;
    while t.elapsed().as_secs() < 1800 {
        match others_runnable(10) {
            None => return false,
            Some(x) if x <= 0.2 => return true,
            Some(x) if !said => {
                eprintln!("waiting for a quiet machine ({x:.1} other tasks runnable)");
                said = true;
            }
            _ => std::thread::sleep(Duration::from_secs(5)),
        }
    }
    eprintln!("the machine stayed busy for 30 minutes: measuring anyway");
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_loadavg() {
        let l = LoadAvg::parse("0.52 1.58 2.59 3/611 12345\n").unwrap();
        assert_eq!((l.averages, l.runnable), ([0.52, 1.58, 2.59], 3.0));
        assert_eq!(LoadAvg::parse("0.52 1.58 2.59"), None);
        assert_eq!(LoadAvg::parse("0.52 x 2.59 3/611"), None);
        if cfg!(target_os = "linux") {
            assert!(LoadAvg::now().unwrap().runnable >= 1.0);
        }
    }
}
