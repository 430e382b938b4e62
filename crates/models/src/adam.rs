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

    /// One update from the current gradients (parameters without a gradient are skipped).
    pub fn step(&mut self) {
        tch::no_grad(|| {
            self.step += 1;
            let t = self.step as f64;
            let bc1 = 1.0 - self.beta1.powf(t);
            let bc2_sqrt = (1.0 - self.beta2.powf(t)).sqrt();
            let step_size = self.lr / bc1;
            for ((p, m), v) in self
                .params
                .iter_mut()
                .zip(&mut self.exp_avg)
                .zip(&mut self.exp_avg_sq)
            {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let _ = m.lerp_(&g, 1.0 - self.beta1);
                let _ = v.lerp_(&g.square(), 1.0 - self.beta2);
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
        meg_nn::golden::assert_close("p", &p.detach(), &g.get("p", k).unwrap(), 1e-12, 1e-12);
        let state = opt.state("");
        assert_eq!(state[0].1.int64_value(&[]), 3);
        meg_nn::golden::assert_close(
            "exp_avg",
            &state[1].1,
            &g.get("exp_avg", k).unwrap(),
            1e-12,
            1e-12,
        );
        meg_nn::golden::assert_close(
            "exp_avg_sq",
            &state[2].1,
            &g.get("exp_avg_sq", k).unwrap(),
            1e-12,
            1e-12,
        );
    }
}
