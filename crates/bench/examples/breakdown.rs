//! SCRATCH (to be removed): per-phase timing of one MEG iteration.
use meg_bench::{run_config, Scale, Workload};
use meg_models::adam::Adam;
use meg_models::{data, objectives, Model};
extern "C" {
    fn clock_gettime(clk: i32, ts: *mut [i64; 2]) -> i32;
}
/// Thread CPU time (CPU=1) or wall time, in ms.
fn now() -> f64 {
    if std::env::var_os("CPU").is_some() {
        let mut ts = [0i64; 2];
        unsafe { clock_gettime(3, &mut ts) };
        ts[0] as f64 * 1e3 + ts[1] as f64 / 1e6
    } else {
        static T0: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        T0.get_or_init(std::time::Instant::now)
            .elapsed()
            .as_secs_f64()
            * 1e3
    }
}
use tch::{Device, Kind, Tensor};

fn main() -> anyhow::Result<()> {
    meg_nn::set_threads_from_env()?;
    let args: Vec<String> = std::env::args().collect();
    let w = Workload::parse(&args[1])?;
    let iters: usize = args[2].parse()?;
    let cfg = run_config(w, Scale::Paper, 10)?;
    tch::manual_seed(0);
    let mut model = Model::new(&cfg.model, Device::Cpu);
    let mut opt_e = Adam::new(model.parameters("E"), cfg.lr, cfg.betas);
    let mut opt_gt = Adam::new(model.parameters("GT"), cfg.lr, cfg.betas);
    let mut src = data::open(&cfg.data, 0, Device::Cpu)?;
    let n = cfg.batch_size;
    let names = [
        "G zero",
        "G z/perm",
        "G fwd",
        "G bwd",
        "G adam",
        "E zero",
        "E data",
        "E fake",
        "E fwd+grad",
        "E bwd",
        "E adam",
    ];
    let mut acc = vec![0.0f64; names.len()];
    for it in 0..iters + 1 {
        let mut ph = vec![0.0f64; names.len()];
        let mut t = now();
        let mut lap = |i: usize, t: &mut f64| {
            let n = now();
            ph[i] += n - *t;
            *t = n;
        };
        model.e_vs.freeze();
        opt_gt.zero_grad();
        lap(0, &mut t);
        let z = model.sample_z(n);
        let perm = Tensor::randperm(n, (Kind::Int64, Device::Cpu));
        lap(1, &mut t);
        let g = objectives::meg_generator(&model, &z, &perm);
        lap(2, &mut t);
        g.loss.backward();
        lap(3, &mut t);
        opt_gt.step();
        lap(4, &mut t);
        model.e_vs.unfreeze();
        for _ in 0..cfg.k_e {
            opt_e.zero_grad();
            lap(5, &mut t);
            let xr = src.next_batch(n);
            lap(6, &mut t);
            let xf = tch::no_grad(|| model.generate(&model.sample_z(n), true));
            lap(7, &mut t);
            let e = objectives::meg_energy(&model, &xr, &xf, cfg.lambda);
            lap(8, &mut t);
            e.loss.backward();
            lap(9, &mut t);
            opt_e.step();
            lap(10, &mut t);
        }
        if it >= 1 {
            for (a, p) in acc.iter_mut().zip(&ph) {
                *a += p;
            }
        }
    }
    let total: f64 = acc.iter().sum::<f64>() / iters as f64;
    println!("{}: {:.1} ms/iteration", w.name(), total);
    for (nm, a) in names.iter().zip(&acc) {
        println!(
            "  {nm:>10}: {:8.2} ms  {:5.1}%",
            a / iters as f64,
            100.0 * a / iters as f64 / total
        );
    }
    Ok(())
}
