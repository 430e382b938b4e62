//! Forward, backward and double backward through libtorch, against PyTorch
//! (golden values from tests/golden/autograd.py).

use meg_nn::golden::Golden;
use meg_nn::tolerance::{assert_close, assert_close_scaled};
use tch::{Kind, Tensor};

fn net(x: &Tensor, p: &[Tensor]) -> Tensor {
    let h = x.matmul(&p[0].tr()) + &p[1];
    let h = meg_nn::leaky_relu(&h, 0.2).tanh();
    (h.matmul(&p[2].tr()) + &p[3]).squeeze_dim(1)
}

/// A layer's output or gradient against PyTorch's: its entries sum terms of
/// both signs, so the bound scales with the tensor's largest magnitude
/// (policy: meg_nn::tolerance).
#[track_caller]
fn check(what: &str, got: &Tensor, want: &Tensor, rtol: f64) {
    assert_close_scaled(what, got, want, &want.abs().max(), rtol);
}

fn grads(p: &[Tensor]) -> Vec<Tensor> {
    p.iter().map(|t| t.grad().copy()).collect()
}

#[test]
fn forward_backward_and_double_backward_match_pytorch() {
    let g = Golden::load("autograd.json").unwrap();
    let names = ["w1", "b1", "w2", "b2"];
    let p: Vec<Tensor> = names
        .iter()
        .map(|n| g.get(n, Kind::Float).unwrap().set_requires_grad(true))
        .collect();
    let x = g.get("x", Kind::Float).unwrap();

    // Forward and first-order backward.
    let f = net(&x, &p);
    check("forward", &f, &g.get("f", Kind::Double).unwrap(), 1e-5);
    f.sum(Kind::Float).backward();
    for (n, gr) in names.iter().zip(grads(&p)) {
        check(
            &format!("d sum f / d {n}"),
            &gr,
            &g.get(&format!("grad_{n}"), Kind::Double).unwrap(),
            1e-5,
        );
    }
    for t in &p {
        let _ = t.grad().zero_();
    }

    // Double backward: the penalty mean_i ||d f / d x_i||^2 and its parameter gradients.
    let xr = x.set_requires_grad(true);
    let f = net(&xr, &p);
    let gx = Tensor::run_backward(&[f.sum(Kind::Float)], &[&xr], true, true).remove(0);
    check("grad_x", &gx, &g.get("grad_x", Kind::Double).unwrap(), 1e-5);
    let pen = gx
        .square()
        .sum_dim_intlist(1, false, Kind::Float)
        .mean(Kind::Float);
    // A mean of squares: nothing cancels, its own magnitude bounds the error.
    assert_close(
        "penalty",
        &pen,
        &g.get("penalty", Kind::Double).unwrap(),
        1e-5,
        0.0,
    );
    pen.backward();
    for (n, gr) in names.iter().zip(grads(&p)) {
        check(
            &format!("d penalty / d {n}"),
            &gr,
            &g.get(&format!("pen_grad_{n}"), Kind::Double).unwrap(),
            1e-4,
        );
    }
    // The double-backward gradient is not trivially zero (w2 enters the input-gradient).
    assert!(p[2].grad().abs().sum(Kind::Float).double_value(&[]) > 1e-3);
}
