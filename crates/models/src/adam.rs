//! Adam exactly as `torch.optim.Adam` (no weight decay, no amsgrad), with its
//! state held as named tensors so checkpoints can save and restore it.

use tch::kind::Element;
use tch::{Device, Kind, Tensor};

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
    /// `params` are (name, tensor) pairs; names must be unique. Panics if a
    /// parameter is undefined or two of them overlap in memory (views of one
    /// tensor, the same tensor twice): each is updated on its own.
    pub fn new(params: Vec<(String, Tensor)>, lr: f64, betas: (f64, f64)) -> Self {
        let (names, params): (Vec<_>, Vec<_>) = params.into_iter().unzip();
        let mut extents = Vec::new();
        for (name, p) in names.iter().zip(&params) {
            assert!(
                p.defined(),
                "Adam: parameter `{name}` is an undefined tensor"
            );
            if let Some(e) = Extent::of(p) {
                extents.push((name, e));
            }
        }
        let only: Vec<Extent> = extents.iter().map(|(_, e)| *e).collect();
        if let Some((i, j)) = overlapping(&only) {
            panic!(
                "Adam: parameters `{}` and `{}` overlap in memory ({} and {}); \
                 each parameter needs its own",
                extents[i].0, extents[j].0, only[i], only[j]
            );
        }
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
    /// Panics if a gradient shares memory with its parameter (a caller's
    /// mistake; the update is then incomplete).
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
            for ((((name, p), m), v), g) in self
                .names
                .iter()
                .zip(&mut self.params)
                .zip(&mut self.exp_avg)
                .zip(&mut self.exp_avg_sq)
                .zip(grads)
            {
                if !g.defined() {
                    continue;
                }
                if fused_cpu(name, p, g, m, v, &h) {
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

/// The update of one parameter as a single pass over its memory, when all
/// four tensors are contiguous CPU tensors of one float kind (the gradient
/// made so); `false` (nothing done) otherwise. Writes the storage directly
/// (inside `no_grad`, on leaf parameters and optimizer state, as the
/// in-place ops would). Panics if the tensors share memory.
fn fused_cpu(name: &str, p: &Tensor, g: &Tensor, m: &Tensor, v: &Tensor, h: &Hyper) -> bool {
    match p.kind() {
        Kind::Float => fused_as(name, [p, g, m, v], h, fused_f32),
        Kind::Double => fused_as(name, [p, g, m, v], h, fused_f64),
        _ => false,
    }
}

/// What each of [`fused_as`]'s tensors is, for messages.
const ROLES: [&str; 4] = ["parameter", "gradient", "first moment", "second moment"];

/// [`fused_cpu`] for elements of type `T`.
fn fused_as<T: Element + Send + Sync>(
    name: &str,
    [p, g, m, v]: [&Tensor; 4],
    h: &Hyper,
    f: Kernel<T>,
) -> bool {
    let size = p.size();
    // Defined, on the CPU, holding `T`s, the parameter's shape, values as
    // stored (no lazy negation).
    let plain = |t: &Tensor| {
        t.defined()
            && t.device() == Device::Cpu
            && t.kind() == T::KIND
            && t.size() == size
            && !t.is_neg()
    };
    if ![p, g, m, v].into_iter().all(plain) {
        return false;
    }
    // A gradient in another memory layout than its parameter (the weight
    // gradient of a channels-last convolution) is copied into the parameter's.
    let g = &g.contiguous();
    let all = [p, g, m, v];
    if !all.iter().all(|t| t.is_contiguous()) {
        return false;
    }
    let n = p.numel();
    if n == 0 {
        return true;
    }
    let bytes = n * std::mem::size_of::<T>();
    // Contiguous: each tensor's `n` elements are the `bytes` from its first.
    let extents = all.map(|t| {
        let start = t.data_ptr() as usize;
        Extent {
            device: Device::Cpu,
            start,
            end: start + bytes,
        }
    });
    debug_assert!(all
        .iter()
        .zip(&extents)
        .all(|(t, e)| Extent::of(t) == Some(*e)));
    if extents
        .iter()
        .any(|e| e.start == 0 || e.start % std::mem::align_of::<T>() != 0)
    {
        return false;
    }
    if let Some((i, j)) = overlapping(&extents) {
        panic!(
            "Adam: the {} and the {} of parameter `{name}` overlap in memory \
             ({} and {}); each needs its own",
            ROLES[i], ROLES[j], extents[i], extents[j]
        );
    }
    let [p, g, m, v] = extents.map(|e| e.start);
    // SAFETY: checked above: each of the four tensors is defined, on the
    // CPU, of kind `T::KIND` (whose elements are `T`s: `tch::kind::Element`
    // is an unsafe trait promising it), contiguous with `n > 0` elements,
    // so its elements are the `n * size_of::<T>()` bytes from its data
    // pointer, which is non-null and aligned for `T`; the four byte ranges
    // are pairwise disjoint (sorted by start, each ends at or before the
    // next starts), so the three `&mut` slices alias nothing and the shared
    // gradient slice is not written. The memory stays allocated for the
    // whole call: `p`, `m` and `v` are borrowed and `g` is a local, each
    // holding its storage, and the slices do not outlive `parallel`, which
    // joins its threads before returning. What no check can see is another
    // thread using the same storage through another handle during the step;
    // every in-place tch operation relies on that not happening as well.
    let (p, g, m, v) = unsafe {
        (
            std::slice::from_raw_parts_mut(p as *mut T, n),
            std::slice::from_raw_parts(g as *const T, n),
            std::slice::from_raw_parts_mut(m as *mut T, n),
            std::slice::from_raw_parts_mut(v as *mut T, n),
        )
    };
    parallel(p, g, m, v, h, f);
    true
}

/// The bytes from a tensor's first element to one past its last, gaps
/// between strided elements included, in the memory of its device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Extent {
    device: Device,
    start: usize,
    end: usize,
}

impl Extent {
    /// `None` for a tensor without elements. Panics for one without strided
    /// memory (tch's `data_ptr` panics then).
    fn of(t: &Tensor) -> Option<Extent> {
        if t.numel() == 0 {
            return None;
        }
        // Strides are not negative in libtorch: the last element is at
        // Σ (size - 1)·stride elements from the first.
        let last: i64 = t
            .size()
            .iter()
            .zip(t.stride())
            .map(|(n, s)| (n - 1) * s)
            .sum();
        let start = t.data_ptr() as usize;
        let end = start + (last as usize + 1) * t.kind().elt_size_in_bytes();
        Some(Extent {
            device: t.device(),
            start,
            end,
        })
    }
}

impl std::fmt::Display for Extent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "bytes {:#x}..{:#x} on {:?}",
            self.start, self.end, self.device
        )
    }
}

/// Two extents (their indices, in address order) that share a byte, if
/// any: sorted by device and start, each must end at or before the next
/// one starts (if two overlap, some neighbours in that order do).
fn overlapping(extents: &[Extent]) -> Option<(usize, usize)> {
    let space = |d: Device| match d {
        Device::Cpu => (0, 0),
        Device::Cuda(i) => (1, i),
        Device::Mps => (2, 0),
        Device::Vulkan => (3, 0),
    };
    let mut order: Vec<usize> = (0..extents.len()).collect();
    order.sort_by_key(|&i| (space(extents[i].device), extents[i].start));
    order.windows(2).map(|w| (w[0], w[1])).find(|&(a, b)| {
        let (a, b) = (&extents[a], &extents[b]);
        a.device == b.device && a.end > b.start
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn adam(params: Vec<(&str, Tensor)>) -> Adam {
        let params = params.into_iter().map(|(n, t)| (n.to_string(), t));
        Adam::new(params.collect(), 0.01, (0.5, 0.9))
    }

    /// Two narrows of one storage that share elements.
    #[test]
    #[should_panic(expected = "Adam: parameters `a` and `b` overlap in memory")]
    fn overlapping_narrows_are_refused() {
        let t = Tensor::zeros([10], (Kind::Float, Device::Cpu));
        let _ = adam(vec![("a", t.narrow(0, 0, 6)), ("b", t.narrow(0, 4, 6))]);
    }

    /// A view of a whole tensor next to the tensor (distinct start pointers
    /// would not tell them apart from a later slice of it either).
    #[test]
    #[should_panic(expected = "overlap in memory")]
    fn a_view_and_its_base_are_refused() {
        let t = Tensor::zeros([4, 5], (Kind::Double, Device::Cpu));
        let _ = adam(vec![("t", t.shallow_clone()), ("row", t.get(2))]);
    }

    /// Views that touch but share no byte are independent parameters.
    #[test]
    fn adjacent_narrows_are_accepted_and_updated_separately() {
        let t = Tensor::zeros([10], (Kind::Float, Device::Cpu));
        let (a, b) = (t.narrow(0, 0, 5), t.narrow(0, 5, 5));
        let mut opt = adam(vec![("a", a.shallow_clone()), ("b", b.shallow_clone())]);
        opt.step_with(&[a.ones_like(), -b.ones_like()]);
        assert!(a.max().double_value(&[]) < 0.0);
        assert!(b.min().double_value(&[]) > 0.0);
    }

    /// A gradient that is its parameter's own memory never becomes a `&mut`
    /// slice next to a shared one.
    #[test]
    #[should_panic(expected = "the parameter and the gradient of parameter `p` overlap in memory")]
    fn a_gradient_in_the_parameters_memory_is_refused() {
        let p = Tensor::ones([8], (Kind::Float, Device::Cpu));
        let mut opt = adam(vec![("p", p.shallow_clone())]);
        opt.step_with(&[p.narrow(0, 0, 8)]);
    }

    #[test]
    fn overlap_is_judged_on_byte_ranges() {
        let e = |start, end| Extent {
            device: Device::Cpu,
            start,
            end,
        };
        assert_eq!(overlapping(&[e(0, 8), e(8, 16), e(16, 24)]), None);
        // Distinct starts, but the first range reaches into the third.
        assert_eq!(overlapping(&[e(0, 12), e(16, 24), e(8, 12)]), Some((0, 2)));
        assert_eq!(overlapping(&[e(40, 48), e(0, 100)]), Some((1, 0)));
        let gpu = Extent {
            device: Device::Cuda(0),
            ..e(0, 8)
        };
        assert_eq!(overlapping(&[e(0, 8), gpu]), None);
    }
}
