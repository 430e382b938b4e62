//! Activations whose slope tch's generated API does not expose.

use tch::Tensor;

/// `torch.nn.functional.leaky_relu(x, slope)`, twice differentiable as the
/// score penalty needs. One kernel: `leaky_relu_backward(x, sign source =
/// x.detach(), slope)` is `x` where `x > 0`, else `slope·x`, which is the
/// forward value, and it is linear in its first argument, so its gradient and
/// that gradient's gradient are the same kernel again (what PyTorch's own
/// leaky_relu does in a double backward). Same values and (almost-everywhere)
/// derivatives as PyTorch's kernel, including the derivative `slope` at 0,
/// bit for bit as `x · (slope + (1 - slope)·[x > 0])`, in one op instead of four.
pub fn leaky_relu(x: &Tensor, slope: f64) -> Tensor {
    x.detach().leaky_relu_backward(x, slope, false)
}
