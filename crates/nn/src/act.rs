//! Activations whose slope tch's generated API does not expose.

use tch::Tensor;

/// `torch.nn.functional.leaky_relu(x, slope)` for `0 <= slope < 1`, twice
/// differentiable as the score penalty needs.
pub fn leaky_relu(x: &Tensor, slope: f64) -> Tensor {
    debug_assert!((0.0..1.0).contains(&slope));
    x.maximum(&(x * slope))
}
