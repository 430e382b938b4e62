//! Adam exactly as `torch.optim.Adam` (no weight decay, no amsgrad), with its
//! state held as named tensors so checkpoints can save and restore it.

use tch::Tensor;

/// Adam over a fixed, named list of parameters.
pub struct Adam {
    names: Vec<String>,
    params: Vec<Tensor>,
    exp_avg: Vec<Tensor>,
    exp_avg_sq: Vec<Tensor>,
    step: i64,
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
}

impl Adam {
    /// `params` are (name, tensor) pairs; names must be unique.
    pub fn new(params: Vec<(String, Tensor)>, lr: f64, betas: (f64, f64)) -> Self {
        let (names, params): (Vec<_>, Vec<_>) = params.into_iter().unzip();
        let exp_avg = params.iter().map(|p| p.zeros_like()).collect();
        let exp_avg_sq = params.iter().map(|p| p.zeros_like()).collect();
        Adam {
            names,
            params,
            exp_avg,
            exp_avg_sq,
            step: 0,
            lr,
            beta1: betas.0,
            beta2: betas.1,
            eps: 1e-8,
        }
    }

    /// Clears the gradients of every parameter.
    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.detach_().zero_();
            }
        }
    }

    /// The parameters, in the order [`Adam::step_with`] expects their gradients.
    pub fn params(&self) -> &[Tensor] {
        &self.params
    }

    /// One update from the current gradients (parameters without a gradient are skipped).
    pub fn step(&mut self) {
        let grads: Vec<Tensor> = self.params.iter().map(Tensor::grad).collect();
        self.step_with(&grads)
    }

    /// One update from `grads`, one per parameter in [`Adam::params`] order
    /// (undefined ones are skipped), e.g. from [`Tensor::run_backward`].
    pub fn step_with(&mut self, grads: &[Tensor]) {
        assert_eq!(grads.len(), self.params.len(), "one gradient per parameter");
        tch::no_grad(|| {
            self.step += 1;
            let t = self.step as f64;
            let bc1 = 1.0 - self.beta1.powf(t);
            let bc2_sqrt = (1.0 - self.beta2.powf(t)).sqrt();
            let step_size = self.lr / bc1;
            let h = Hyper {
                w1: 1.0 - self.beta1,
                beta2: self.beta2,
                w2: 1.0 - self.beta2,
                bc2_sqrt,
                eps: self.eps,
                neg_step_size: -step_size,
            };
            for (((p, m), v), g) in self
                .params
                .iter_mut()
                .zip(&mut self.exp_avg)
                .zip(&mut self.exp_avg_sq)
                .zip(grads)
            {
                if !g.defined() {
                    continue;
                }
                if fused_cpu(p, g, m, v, &h) {
                    continue;
                }
                // torch.optim.Adam's single-tensor update, op for op.
                let _ = m.lerp_(g, h.w1);
                let _ = v.g_mul_scalar_(h.beta2).addcmul_(g, &(g * h.w2));
                let denom = (v.sqrt() / bc2_sqrt) + self.eps;
                let _ = p.addcdiv_(&(&*m * -step_size), &denom);
            }
        })
    }

    /// Number of updates taken.
    pub fn steps(&self) -> i64 {
        self.step
    }

    /// The state as named tensors, keys prefixed with `prefix`.
    pub fn state(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let mut out = vec![(format!("{prefix}step"), Tensor::from(self.step))];
        for (i, n) in self.names.iter().enumerate() {
            out.push((
                format!("{prefix}exp_avg.{n}"),
                self.exp_avg[i].shallow_clone(),
            ));
            out.push((
                format!("{prefix}exp_avg_sq.{n}"),
                self.exp_avg_sq[i].shallow_clone(),
            ));
        }
        out
    }

    /// Restores the state written by [`Adam::state`].
    pub fn load_state(
        &mut self,
        prefix: &str,
        get: &mut dyn FnMut(&str) -> anyhow::Result<Tensor>,
    ) -> anyhow::Result<()> {
        self.step = get(&format!("{prefix}step"))?.int64_value(&[]);
        tch::no_grad(|| -> anyhow::Result<()> {
            for (i, n) in self.names.iter().enumerate() {
                self.exp_avg[i].copy_(&get(&format!("{prefix}exp_avg.{n}"))?);
                self.exp_avg_sq[i].copy_(&get(&format!("{prefix}exp_avg_sq.{n}"))?);
            }
            Ok(())
        })
    }
}

/// Scalars of one Adam update.
struct Hyper {
    /// Lerp weight of the first moment, `1 - beta1`.
    w1: f64,
    beta2: f64,
    /// `1 - beta2`.
    w2: f64,
    bc2_sqrt: f64,
    eps: f64,
    neg_step_size: f64,
}

/// Elements per thread below which the fused update does not split.
const PER_THREAD_MIN: usize = 1 << 19;

macro_rules! fused_kernel {
    ($name:ident, $t:ty) => {
        /// One pass of torch.optim.Adam's update over contiguous slices, in the
        /// order of its single-tensor ops (`lerp_`, `mul_`/`addcmul_`, `sqrt`,
        /// `/`, `add_`, `addcdiv_`).
        fn $name(p: &mut [$t], g: &[$t], m: &mut [$t], v: &mut [$t], h: &Hyper) {
            let w1 = h.w1 as $t;
            let small = h.w1.abs() < 0.5;
            let (beta2, w2) = (h.beta2 as $t, h.w2 as $t);
            let (bc2, eps, nss) = (h.bc2_sqrt as $t, h.eps as $t, h.neg_step_size as $t);
            let n = p.len();
            assert!(g.len() == n && m.len() == n && v.len() == n);
            for i in 0..n {
                let (gi, mi) = (g[i], m[i]);
                // ATen's lerp: start + w (end - start) for |w| < 0.5, else end - (end - start)(1 - w).
                let mi = if small {
                    mi + w1 * (gi - mi)
                } else {
                    gi - (gi - mi) * (1.0 - w1)
                };
                let vi = v[i] * beta2 + w2 * gi * gi;
                let denom = vi.sqrt() / bc2 + eps;
                p[i] += nss * mi / denom;
                m[i] = mi;
                v[i] = vi;
            }
        }
    };
}
fused_kernel!(fused_f32, f32);
fused_kernel!(fused_f64, f64);

/// An update kernel over (parameter, gradient, first moment, second moment).
type Kernel<T> = fn(&mut [T], &[T], &mut [T], &mut [T], &Hyper);

/// Splits the four slices into `parts` aligned chunks and runs `f` on each,
/// on scoped threads (the first on the calling thread).
fn parallel<T: Send + Sync>(
    p: &mut [T],
    g: &[T],
    m: &mut [T],
    v: &mut [T],
    h: &Hyper,
    f: Kernel<T>,
) {
    let threads = tch::get_num_threads().max(1) as usize;
    let parts = threads.min(p.len() / PER_THREAD_MIN).max(1);
    if parts == 1 {
        return f(p, g, m, v, h);
    }
    let chunk = p.len().div_ceil(parts);
    std::thread::scope(|s| {
        let mut iter = p
            .chunks_mut(chunk)
            .zip(g.chunks(chunk))
            .zip(m.chunks_mut(chunk))
            .zip(v.chunks_mut(chunk));
        let first = iter.next().expect("non-empty");
        for (((p, g), m), v) in iter {
            s.spawn(move || f(p, g, m, v, h));
        }
        let (((p, g), m), v) = first;
        f(p, g, m, v, h);
    });
}

/// The update of one parameter as a single pass over its memory, when
/// everything is a contiguous CPU tensor of one float kind (the gradient
/// made so); `false` (nothing done) otherwise. Writes the storage directly
/// (inside `no_grad`, on leaf parameters and optimizer state, as the
/// in-place ops would).
fn fused_cpu(p: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor, h: &Hyper) -> bool {
    let kind = p.kind();
    // A gradient in another memory layout than its parameter (the weight
    // gradient of a channels-last convolution) is copied into the parameter's.
    let g = &g.contiguous();
    let all = [p, g, m, v];
    if p.device() != tch::Device::Cpu
        || all.iter().any(|t| {
            t.device() != tch::Device::Cpu
                || t.kind() != kind
                || !t.is_contiguous()
                || t.size() != p.size()
        })
    {
        return false;
    }
    let n = p.numel();
    if n == 0 {
        return true;
    }
    // Distinct storages: the slices below must not alias.
    let ptrs = all.map(|t| t.data_ptr() as usize);
    for i in 0..4 {
        for j in i + 1..4 {
            if ptrs[i] == ptrs[j] {
                return false;
            }
        }
    }
    // SAFETY: four distinct, contiguous CPU buffers of `n` elements of the
    // matching type, alive for the duration of the call; no other thread uses
    // them during the optimizer step.
    unsafe {
        match kind {
            tch::Kind::Float => {
                let s = |t: usize| std::slice::from_raw_parts_mut(t as *mut f32, n);
                parallel(s(ptrs[0]), s(ptrs[1]), s(ptrs[2]), s(ptrs[3]), h, fused_f32);
            }
            tch::Kind::Double => {
                let s = |t: usize| std::slice::from_raw_parts_mut(t as *mut f64, n);
                parallel(s(ptrs[0]), s(ptrs[1]), s(ptrs[2]), s(ptrs[3]), h, fused_f64);
            }
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    #[test]
    fn matches_pytorch_adam_on_a_quadratic() {
        // Golden values: tests/golden/models_adam.py (torch.optim.Adam, 3 steps).
        let g = meg_nn::golden::Golden::load("models_adam.json").unwrap();
        let p = Tensor::from_slice(&[1.0f64, -2.0, 0.5]).set_requires_grad(true);
        let c = Tensor::from_slice(&[0.3f64, 0.3, 0.3]);
        let mut opt = Adam::new(vec![("p".into(), p.shallow_clone())], 0.1, (0.5, 0.9));
        for _ in 0..3 {
            opt.zero_grad();
            (&p - &c).square().sum(Kind::Double).backward();
            opt.step();
        }
        let k = Kind::Double;
        meg_nn::tolerance::assert_close("p", &p.detach(), &g.get("p", k).unwrap(), 1e-12, 1e-12);
        let state = opt.state("");
        assert_eq!(state[0].1.int64_value(&[]), 3);
        meg_nn::tolerance::assert_close(
            "exp_avg",
            &state[1].1,
            &g.get("exp_avg", k).unwrap(),
            1e-12,
            1e-12,
        );
        meg_nn::tolerance::assert_close(
            "exp_avg_sq",
            &state[2].1,
            &g.get("exp_avg_sq", k).unwrap(),
            1e-12,
            1e-12,
        );
    }

    #[test]
    fn fused_and_op_by_op_updates_agree() {
        // A transposed (non-contiguous) parameter takes the op-by-op path.
        let k = Kind::Double;
        let init = Tensor::randn([40, 30], (k, tch::Device::Cpu));
        let target = Tensor::randn([40, 30], (k, tch::Device::Cpu));
        let a = init.copy().set_requires_grad(true);
        let b = init.tr().contiguous().tr().set_requires_grad(true);
        assert!(!b.is_contiguous());
        let mut opt_a = Adam::new(vec![("a".into(), a.shallow_clone())], 0.01, (0.5, 0.9));
        let mut opt_b = Adam::new(vec![("b".into(), b.shallow_clone())], 0.01, (0.5, 0.9));
        for _ in 0..4 {
            for (p, opt) in [(&a, &mut opt_a), (&b, &mut opt_b)] {
                let loss = (p - &target).pow_tensor_scalar(4).sum(k);
                let g = Tensor::run_backward(&[loss], &[p], false, false);
                opt.step_with(&g);
            }
        }
        meg_nn::tolerance::assert_close("param", &a.detach(), &b.detach(), 1e-12, 1e-14);
        for i in 1..3 {
            meg_nn::tolerance::assert_close(
                "state",
                &opt_a.state("")[i].1,
                &opt_b.state("")[i].1,
                1e-12,
                1e-14,
            );
        }
    }
}
