//! Layers initialized exactly as PyTorch's `reset_parameters` does.
//!
//! PyTorch draws Linear/Conv weights from `kaiming_uniform_(a = sqrt(5))`,
//! i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and biases from the same bound;
//! BatchNorm starts at weight 1, bias 0. tch's defaults differ (Kaiming gain
//! for ReLU, zero conv bias, BatchNorm weight U(0, 1)), so every layer in this
//! workspace is built through these functions.

use tch::nn::{self, Init};

fn uniform(fan_in: i64) -> Init {
    let b = 1.0 / (fan_in as f64).sqrt();
    Init::Uniform { lo: -b, up: b }
}

/// `torch.nn.Linear(in_dim, out_dim)` with PyTorch's initialization.
pub fn linear<'a, P: std::borrow::Borrow<nn::Path<'a>>>(
    vs: P,
    in_dim: i64,
    out_dim: i64,
) -> nn::Linear {
    let init = uniform(in_dim);
    nn::linear(
        vs,
        in_dim,
        out_dim,
        nn::LinearConfig {
            ws_init: init,
            bs_init: Some(init),
            bias: true,
        },
    )
}

/// `torch.nn.Conv2d` (square kernel, no groups) with PyTorch's initialization.
pub fn conv2d<'a, P: std::borrow::Borrow<nn::Path<'a>>>(
    vs: P,
    in_ch: i64,
    out_ch: i64,
    kernel: i64,
    stride: i64,
    padding: i64,
) -> nn::Conv2D {
    let init = uniform(in_ch * kernel * kernel);
    let cfg = nn::ConvConfig {
        stride,
        padding,
        ws_init: init,
        bs_init: init,
        ..Default::default()
    };
    nn::conv2d(vs, in_ch, out_ch, kernel, cfg)
}

/// `torch.nn.ConvTranspose2d` (square kernel, no groups) with PyTorch's
/// initialization. PyTorch's fan-in for a transposed conv weight
/// `(in, out, k, k)` is `out * k * k`.
pub fn conv_transpose2d<'a, P: std::borrow::Borrow<nn::Path<'a>>>(
    vs: P,
    in_ch: i64,
    out_ch: i64,
    kernel: i64,
    stride: i64,
    padding: i64,
    output_padding: i64,
) -> nn::ConvTranspose2D {
    let init = uniform(out_ch * kernel * kernel);
    let cfg = nn::ConvTransposeConfig {
        stride,
        padding,
        output_padding,
        ws_init: init,
        bs_init: init,
        ..Default::default()
    };
    nn::conv_transpose2d(vs, in_ch, out_ch, kernel, cfg)
}

fn bn_config() -> nn::BatchNormConfig {
    nn::BatchNormConfig {
        ws_init: Init::Const(1.0),
        bs_init: Init::Const(0.0),
        ..Default::default()
    }
}

/// `torch.nn.BatchNorm1d` (weight 1, bias 0, eps 1e-5, momentum 0.1).
pub fn batch_norm1d<'a, P: std::borrow::Borrow<nn::Path<'a>>>(vs: P, dim: i64) -> nn::BatchNorm {
    nn::batch_norm1d(vs, dim, bn_config())
}

/// `torch.nn.BatchNorm2d` (weight 1, bias 0, eps 1e-5, momentum 0.1).
pub fn batch_norm2d<'a, P: std::borrow::Borrow<nn::Path<'a>>>(vs: P, dim: i64) -> nn::BatchNorm {
    nn::batch_norm2d(vs, dim, bn_config())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn max_abs(t: &tch::Tensor) -> f64 {
        t.abs().max().double_value(&[])
    }

    #[test]
    fn bounds_follow_pytorch_fan_in() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let root = vs.root();
        let l = linear(&root / "l", 400, 7);
        let c = conv2d(&root / "c", 3, 8, 5, 2, 2);
        let t = conv_transpose2d(&root / "t", 64, 16, 5, 2, 2, 1);
        for (w, fan) in [(&l.ws, 400.0), (&c.ws, 75.0), (&t.ws, 400.0)] {
            let bound = 1.0 / f64::sqrt(fan);
            let m = max_abs(w);
            // Uniform on (-b, b): the max of thousands of draws is close to b, never above.
            assert!(m <= bound && m > 0.95 * bound, "max {m} vs bound {bound}");
        }
        // Biases use the same bound and are not zero (tch's conv default is zero).
        let cb = c.bs.as_ref().unwrap();
        assert!(max_abs(cb) > 0.0 && max_abs(cb) <= 1.0 / 75f64.sqrt());
        let bn = batch_norm2d(&root / "bn", 6);
        let w = bn.ws.as_ref().unwrap();
        assert_eq!(
            w.to_kind(Kind::Double).sum(Kind::Double).double_value(&[]),
            6.0
        );
    }
}
