//! `bench.md`: the [`Report`] as a table and a list of workloads.

use super::report::{Report, Scale, WorkloadReport, COUNTING_RULE};
use super::rules::{batch_share, BATCH, STACKED, STACKED_BATCHES_PER_ITERATION};

/// A value with the decimals its size deserves.
pub fn fmt(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else if x >= 0.1 {
        format!("{x:.2}")
    } else {
        format!("{x:.4}")
    }
}

/// `a / b / c`, or `unknown`.
fn load(l: Option<[f64; 3]>) -> String {
    l.map_or("unknown".into(), |v| {
        format!("{:.2} / {:.2} / {:.2}", v[0], v[1], v[2])
    })
}

/// `bench.md`'s text.
pub fn render(r: &Report) -> String {
    let mut s = String::from("# Benchmarks: ours (tch) against eager PyTorch\n\n");
    let run = &r.run;
    if run.scale == Scale::Smoke {
        s += "**Smoke run: tiny sizes, no warm-up; the numbers mean nothing.**\n\n";
    }
    s += &format!(
        "Written by `cargo xtask bench` on {}. Git revision `{}`; libtorch {} (ours), torch {} \
         (PyTorch, `crates/bench/bench.py`); device {}, {} threads on both sides; {} runs per \
         side, alternating ours / PyTorch, each a fresh process with its own warm-up; values are \
         medians over runs of each process's median.{} Load average (1 / 5 / 15 min) before: {}, \
         after: {}.\n\n",
        run.date,
        run.git_revision,
        run.libtorch,
        run.pytorch,
        run.device,
        run.threads,
        run.runs,
        if run.waited_for_quiet {
            " Each process started once no other task had been runnable for 2 s."
        } else {
            ""
        },
        load(run.load_average_before),
        load(run.load_average_after)
    );
    s += "Ratio = PyTorch time / our time (for rates: our rate / PyTorch's); above 1 we are faster. \
          % of matmul: our GFLOP/s over the 4096x4096 matmul rate that the same process measured \
          right after the workload, per run, median over runs (the machine's speed drifts by \
          ±15% over minutes, so both rates are taken seconds apart); the matmul row is that \
          workload measured on its own.\n\n";
    let header = [
        "workload",
        "unit",
        "ours",
        "PyTorch",
        "ratio",
        "GFLOP/unit",
        "ours GFLOP/s",
        "% of matmul",
        "target",
        "met",
    ];
    let rows: Vec<Vec<String>> = r.workloads.iter().map(table_row).collect();
    s += &meg_plumbing::markdown::table(&header, &rows);
    if let (Some(b), Some(st)) = (r.workload(BATCH), r.workload(STACKED)) {
        s += &format!(
            "\nBatch assembly: {} × {} ms = {:.2}% of a StackedMNIST iteration ({} ms).\n",
            STACKED_BATCHES_PER_ITERATION,
            fmt(b.ours),
            100.0 * batch_share(b.ours, st.ours),
            fmt(st.ours)
        );
    }
    s += "\n## Workloads\n\n";
    for w in &r.workloads {
        s += &workload_item(w);
    }
    s += &format!("\n## Counting rule\n\n{COUNTING_RULE}\n");
    s
}

/// The cells of one row of the table.
fn table_row(w: &WorkloadReport) -> Vec<String> {
    let dash = || "—".to_string();
    vec![
        w.name.clone(),
        w.unit.clone(),
        fmt(w.ours),
        fmt(w.pytorch),
        format!("{:.3}", w.ratio),
        if w.gflop_per_unit > 0.0 {
            fmt(w.gflop_per_unit)
        } else {
            dash()
        },
        w.ours_gflops.map_or_else(dash, fmt),
        w.ours_fraction_of_matmul
            .map_or_else(dash, |f| format!("{:.0}%", 100.0 * f)),
        w.target.clone(),
        w.met
            .map_or("—", |b| if b { "yes" } else { "**no**" })
            .to_string(),
    ]
}

/// One item of the list of workloads.
fn workload_item(w: &WorkloadReport) -> String {
    let list = |v: &[f64]| v.iter().map(|&x| fmt(x)).collect::<Vec<_>>().join(", ");
    let reference = if w.reference_matmul_gflops_runs.is_empty() {
        String::new()
    } else {
        format!(
            " Matmul reference after each of our runs (GFLOP/s): {}.",
            list(&w.reference_matmul_gflops_runs)
        )
    };
    let params = w.params_e_g_t.map_or(String::new(), |[e, g, t]| {
        format!(" Parameters E, G, T: {e},{g},{t}.")
    });
    format!(
        "- **{}**: {}. Runs (ours): {}; (PyTorch): {}; 1-minute load average at each start: {}.{}{}\n",
        w.name,
        w.what,
        list(&w.ours_runs),
        list(&w.pytorch_runs),
        list(&w.load_average_1min_per_run),
        reference,
        params
    )
}

#[cfg(test)]
mod tests {
    use super::super::report::fixture;
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(
            [1234.5, 12.34, 1.234, 0.01234].map(fmt),
            ["1234", "12.3", "1.23", "0.0123"]
        );
        assert_eq!(load(None), "unknown");
        assert_eq!(load(Some([1.0, 0.5, 0.125])), "1.00 / 0.50 / 0.12");
    }

    #[test]
    fn renders_the_report() {
        let r = fixture::report();
        let md = render(&r);
        assert!(md.starts_with("# Benchmarks: ours (tch) against eager PyTorch\n\nWritten by"));
        assert!(md.contains(" on 2000-02-29T00:00:00Z. Git revision `abc`;"));
        assert!(md.contains("device cpu, 2 threads on both sides; 1 runs per side"));
        assert!(md.contains("before: 1.50 / 1.25 / 1.00, after: unknown.\n"));
        assert!(md.contains(
            "| batch | ms | 0.0700 | 0.0900 | 1.286 | — | — | — | 5× batch < 5% of a stackedmnist iteration | yes |\n"
        ));
        assert!(md.contains(
            "| stackedmnist | ms | 1000 | 1500 | 1.500 | 300 | 300 | 75% | ratio ≥ 1.2 | yes |\n"
        ));
        assert!(
            md.contains("| matmul | GFLOP/s | 173 | 170 | 1.019 | 137 | 173 | 100% | — | — |\n")
        );
        assert!(md.contains(
            "\nBatch assembly: 5 × 0.0700 ms = 0.04% of a StackedMNIST iteration (1000 ms).\n"
        ));
        assert!(md.contains(
            "- **stackedmnist**: stackedmnist, in words. Runs (ours): 1000; (PyTorch): 1500; \
             1-minute load average at each start: 1.00. Matmul reference after each of our runs \
             (GFLOP/s): 400. Parameters E, G, T: 1,2,3.\n"
        ));
        assert!(md.contains("- **batch**: batch, in words. Runs (ours): 0.0700; (PyTorch): 0.0900; 1-minute load average at each start: 1.00.\n"));
        assert!(md.ends_with(&format!("## Counting rule\n\n{COUNTING_RULE}\n")));
        assert!(!md.contains("Smoke run"));
        let mut smoke = r;
        (smoke.run.scale, smoke.run.waited_for_quiet) = (Scale::Smoke, true);
        let md = render(&smoke);
        assert!(md.contains(
            "**Smoke run: tiny sizes, no warm-up; the numbers mean nothing.**\n\nWritten"
        ));
        assert!(
            md.contains(" Each process started once no other task had been runnable for 2 s. Load")
        );
    }
}
