//! The layers of E's explicit energy step, each with its forward pass and
//! its explicit gradients ([`StepLayer`]): Linear, convolution (computed in
//! a GEMM form where that is faster), leaky ReLU and flatten.

use super::step::{StepLayer, WeightGrads};
use meg_nn::{conv_layout, leaky_relu};
use tch::nn::{self, Module};
use tch::Tensor;

impl StepLayer for nn::Linear {
    fn forward(&self, x: &Tensor) -> Tensor {
        Module::forward(self, x)
    }

    fn input_grad(&self, _input: &Tensor, g: &Tensor, rows: i64) -> Tensor {
        g.narrow(0, 0, rows).mm(&self.ws)
    }

    /// Ones times W (one output): W's row, repeated (a view).
    fn input_grad_of_ones(&self, rows: i64) -> Option<Tensor> {
        Some(self.ws.expand([rows, self.ws.size()[1]], false))
    }

    fn has_weights(&self) -> bool {
        true
    }

    fn weight_grads(&self, delta: &Tensor, combined: &Tensor) -> WeightGrads<'_> {
        WeightGrads {
            weight: (&self.ws, delta.tr().mm(combined)),
            bias: self.bs.as_ref().map(|b| (b, delta.shallow_clone())),
        }
    }

    fn cotangent_up(&self, _input: &Tensor, _n: i64, ubar: &Tensor) -> Tensor {
        ubar.mm(&self.ws.tr())
    }
}

/// A leaky ReLU of negative slope `.0` ([`meg_nn::leaky_relu`]).
pub(super) struct LeakyRelu(pub f64);

impl StepLayer for LeakyRelu {
    fn forward(&self, x: &Tensor) -> Tensor {
        leaky_relu(x, self.0)
    }

    /// On all rows (an activation is never E's first layer).
    fn input_grad(&self, input: &Tensor, g: &Tensor, _rows: i64) -> Tensor {
        input.leaky_relu_backward(g, self.0, false)
    }

    fn cotangent_up(&self, input: &Tensor, n: i64, ubar: &Tensor) -> Tensor {
        input
            .narrow(0, 0, n)
            .leaky_relu_backward(ubar, self.0, false)
    }
}

/// `[N, C, H, W]` → `[N, C·H·W]`.
pub(super) struct Flatten;

impl StepLayer for Flatten {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.flatten(1, -1)
    }

    /// On all rows, in the convolutions' layout (never E's first layer).
    fn input_grad(&self, input: &Tensor, g: &Tensor, _rows: i64) -> Tensor {
        conv_layout(&g.reshape(input.size()))
    }

    fn cotangent_up(&self, _input: &Tensor, _n: i64, ubar: &Tensor) -> Tensor {
        ubar.flatten(1, -1)
    }
}

/// Stride and padding of a [`Conv`] (square, dilation 1, one group, zero
/// padding: what [`meg_nn::conv2d`] builds).
#[derive(Debug, Clone, Copy)]
struct Geom {
    stride: i64,
    padding: i64,
}

/// `nn.Conv2d(i, o, k, s, p)`: its forward pass (a module, differentiable
/// by autograd) and explicit gradients, each as im2col and one matrix
/// product where [`gemm_pays`] (the same sums, in another order).
#[derive(Debug)]
pub(super) struct Conv {
    conv: nn::Conv2D,
    geom: Geom,
}

impl Conv {
    /// `nn.Conv2d(i, o, k, stride, padding)` under `path`, PyTorch's init.
    pub(super) fn new(path: nn::Path, i: i64, o: i64, k: i64, stride: i64, padding: i64) -> Self {
        Conv {
            conv: meg_nn::conv2d(path, i, o, k, stride, padding),
            geom: Geom { stride, padding },
        }
    }

    /// The weight, `[o, i, k, k]`.
    pub(super) fn weight(&self) -> &Tensor {
        &self.conv.ws
    }

    /// The convolution of `x` by the weight, plus `bs`.
    fn apply(&self, bs: Option<&Tensor>, x: &Tensor) -> Tensor {
        let (s, w) = (x.size(), self.conv.ws.size());
        let [oh, ow] = self.out_size(&s);
        if !gemm_pays(x.device(), oh * ow) {
            let Geom { stride, padding } = self.geom;
            return x.conv2d(
                &self.conv.ws,
                bs,
                [stride, stride],
                [padding, padding],
                [1, 1],
                1,
            );
        }
        let o = w[0];
        let wt = self.conv.ws.view([o, -1]).tr();
        let cols = self.columns(x);
        let y = match bs {
            Some(b) => b.addmm(&cols, &wt),
            None => cols.mm(&wt),
        };
        y.view([s[0], oh, ow, o]).permute([0, 3, 1, 2])
    }

    /// Output height and width for an input of shape `s`.
    fn out_size(&self, s: &[i64]) -> [i64; 2] {
        let Geom { stride, padding } = self.geom;
        let w = self.conv.ws.size();
        [0, 1].map(|i| (s[2 + i] + 2 * padding - w[2 + i]) / stride + 1)
    }

    /// im2col of `x`: `[N·L, C·k·k]`, one row per output position.
    fn columns(&self, x: &Tensor) -> Tensor {
        let Geom { stride, padding } = self.geom;
        let w = self.conv.ws.size();
        let [oh, ow] = self.out_size(&x.size());
        x.im2col([w[2], w[3]], [1, 1], [padding, padding], [stride, stride])
            .transpose(1, 2)
            .reshape([x.size()[0] * oh * ow, -1])
    }

    /// The input gradient (input height and width `input`) from the output
    /// gradient `g`.
    fn input_grad_from(&self, g: &Tensor, input: [i64; 2]) -> Tensor {
        if gemm_pays(g.device(), g.size()[2] * g.size()[3]) {
            return self.input_grad_gemm(g, input);
        }
        let Geom { stride, padding } = self.geom;
        let w = self.conv.ws.size();
        let out = g.size();
        // The output padding that restores the input size: (in + 2p - k) mod s.
        let op = |i: usize| input[i] - ((out[2 + i] - 1) * stride - 2 * padding + w[2 + i]);
        g.conv_transpose2d(
            &self.conv.ws,
            None::<Tensor>,
            [stride, stride],
            [padding, padding],
            [op(0), op(1)],
            1,
            [1, 1],
        )
    }

    /// The input gradient as col2im of one matrix product (what the GEMM
    /// form of the forward pass backpropagates).
    fn input_grad_gemm(&self, g: &Tensor, input: [i64; 2]) -> Tensor {
        let Geom { stride, padding } = self.geom;
        let (s, w) = (g.size(), self.conv.ws.size());
        let (n, o, l) = (s[0], s[1], s[2] * s[3]);
        g.permute([0, 2, 3, 1])
            .reshape([n * l, o])
            .mm(&self.conv.ws.view([o, -1]))
            .view([n, l, -1])
            .transpose(1, 2)
            .col2im(
                input,
                [w[2], w[3]],
                [1, 1],
                [padding, padding],
                [stride, stride],
            )
    }

    /// The weight gradient for the input `x` and output gradient `g`: one
    /// matrix product over im2col columns where [`gemm_pays`], else
    /// libtorch's backward kernel ([`meg_nn::grad::conv2d_weight_grad`]).
    fn weight_grad(&self, g: &Tensor, x: &Tensor) -> Tensor {
        let (s, w) = (g.size(), self.conv.ws.size());
        if !gemm_pays(g.device(), s[2] * s[3]) {
            let Geom { stride, padding } = self.geom;
            return meg_nn::grad::conv2d_weight_grad(g, x, &self.conv.ws, stride, padding);
        }
        g.permute([0, 2, 3, 1])
            .reshape([-1, s[1]])
            .tr()
            .mm(&self.columns(x))
            .view(&w[..])
    }
}

impl Module for Conv {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.apply(self.conv.bs.as_ref(), x)
    }
}

impl StepLayer for Conv {
    fn forward(&self, x: &Tensor) -> Tensor {
        Module::forward(self, x)
    }

    fn input_grad(&self, input: &Tensor, g: &Tensor, rows: i64) -> Tensor {
        let s = input.size();
        self.input_grad_from(&g.narrow(0, 0, rows), [s[2], s[3]])
    }

    fn has_weights(&self) -> bool {
        true
    }

    fn weight_grads(&self, delta: &Tensor, combined: &Tensor) -> WeightGrads<'_> {
        WeightGrads {
            weight: (&self.conv.ws, self.weight_grad(delta, combined)),
            bias: self.conv.bs.as_ref().map(|b| {
                (
                    b,
                    delta.sum_dim_intlist(&[2i64, 3][..], false, delta.kind()),
                )
            }),
        }
    }

    fn cotangent_up(&self, _input: &Tensor, _n: i64, ubar: &Tensor) -> Tensor {
        self.apply(None, ubar)
    }
}

/// Whether a convolution with `positions` output positions on `device` runs
/// faster as one matrix product over im2col columns than through libtorch's
/// convolution: on the CPU, for outputs of at most 2x2 positions (the last
/// conv of the 28x28 trunks). There oneDNN's backward pass reaches a third
/// of the GEMM rate (the 5x5 kernel mostly covers padding), while the GEMM
/// form's backward (a GEMM and col2im) runs about twice as fast at the same
/// FLOPs; for larger outputs the column matrices cost more than they save.
fn gemm_pays(device: tch::Device, positions: i64) -> bool {
    device == tch::Device::Cpu && positions <= 4
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// The GEMM form of a small-output convolution against libtorch's
    /// convolution, in float64: output, input and parameter gradients, and
    /// the explicit input and weight gradients.
    #[test]
    fn gemm_convolution_equals_libtorch_convolution() {
        tch::manual_seed(3);
        let vs = nn::VarStore::new(Device::Cpu);
        // The last conv of the 28x28 trunk: 4x4 → 2x2, kernel 5, stride 2, padding 2.
        let c = Conv::new(vs.root() / "c", 6, 7, 5, 2, 2);
        let mut vs = vs;
        vs.double();
        let x = Tensor::randn([3, 6, 4, 4], (Kind::Double, Device::Cpu)).set_requires_grad(true);
        let ours = Module::forward(&c, &x);
        let want = c.conv.forward(&x);
        assert_eq!(ours.size(), [3, 7, 2, 2]);
        assert!(gemm_pays(Device::Cpu, 4) && !gemm_pays(Device::Cpu, 16));
        let close = |what: &str, a: &Tensor, b: &Tensor| {
            let err = (a - b).abs().max().double_value(&[]);
            assert!(err < 1e-12, "{what}: max difference {err}");
        };
        close("output", &ours, &want);
        let g = Tensor::randn([3, 7, 2, 2], (Kind::Double, Device::Cpu));
        let inputs = [&x, &c.conv.ws, c.conv.bs.as_ref().unwrap()];
        let a = Tensor::run_backward(&[(&ours * &g).sum(Kind::Double)], &inputs, false, false);
        let b = Tensor::run_backward(&[(&want * &g).sum(Kind::Double)], &inputs, false, false);
        for (i, (a, b)) in a.iter().zip(&b).enumerate() {
            close(&format!("gradient {i}"), a, b);
        }
        close(
            "explicit input gradient",
            &c.input_grad_gemm(&g, [4, 4]),
            &b[0],
        );
        close(
            "explicit weight gradient",
            &c.weight_grad(&g, &x.detach()),
            &b[1],
        );
    }
}
