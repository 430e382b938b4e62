//! Gradient kernels libtorch has and tch does not bind (C++ glue in
//! `csrc/grad.cpp`), for explicit backward passes that choose their own
//! operands.

use std::ffi::{c_char, CStr};
use tch::Tensor;
use torch_sys::C_tensor;

extern "C" {
    /// `csrc/grad.cpp`. Borrows the three tensors for the call; returns a
    /// new heap-allocated at::Tensor owned by the caller, or null with a
    /// NUL-terminated message in `err[..err_len]`. Catches every C++
    /// exception.
    fn meg_conv2d_weight_grad(
        grad_output: *const C_tensor,
        input: *const C_tensor,
        weight: *const C_tensor,
        stride: i64,
        padding: i64,
        err: *mut c_char,
        err_len: usize,
    ) -> *mut C_tensor;
}

/// Bytes of the buffer the glue writes its error message into.
const ERR_LEN: usize = 1024;

/// The weight gradient of `input.conv2d(weight, _, stride, padding)` (square
/// stride and padding, dilation 1, one group) for the output gradient
/// `grad_output`: Σ over rows and output positions of the output gradient
/// times the input patch, computed by libtorch's convolution backward kernel
/// (oneDNN on the CPU, cuDNN on CUDA) with no input gradient and outside
/// autograd. Panics with libtorch's message on operands that do not fit,
/// as tch's own operations do.
pub fn conv2d_weight_grad(
    grad_output: &Tensor,
    input: &Tensor,
    weight: &Tensor,
    stride: i64,
    padding: i64,
) -> Tensor {
    for (what, t) in [
        ("grad_output", grad_output),
        ("input", input),
        ("weight", weight),
    ] {
        assert!(
            t.defined(),
            "conv2d_weight_grad: {what} is an undefined tensor"
        );
    }
    // Zeroed, so a message is NUL-terminated even if the glue wrote none.
    let mut err = [0u8; ERR_LEN];
    // SAFETY: the three pointers are tch's `C_tensor`s (heap-allocated
    // at::Tensor, non-null, defined as checked above), valid for the whole
    // call since `grad_output`, `input` and `weight` are borrowed across it;
    // the glue only reads them and keeps no pointer to them. `err` points
    // to a buffer of exactly `err.len()` bytes (the length passed is the
    // array's own), written by the glue with `snprintf` within that length
    // and not kept. The glue catches every C++ exception (`catch (...)`
    // after `std::exception`), so none unwinds into Rust, and it calls no
    // Rust code, so no Rust panic can unwind into C++.
    let ptr = tch::no_grad(|| unsafe {
        meg_conv2d_weight_grad(
            grad_output.as_ptr(),
            input.as_ptr(),
            weight.as_ptr(),
            stride,
            padding,
            err.as_mut_ptr().cast::<c_char>(),
            err.len(),
        )
    });
    if ptr.is_null() {
        let msg = match CStr::from_bytes_until_nul(&err) {
            Ok(msg) => msg.to_string_lossy(),
            Err(_) => String::from_utf8_lossy(&err),
        };
        panic!("conv2d_weight_grad: {msg}");
    }
    // SAFETY: a non-null result is an at::Tensor the glue allocated with
    // `new` for this call and handed over: no one else holds the pointer,
    // and the returned `Tensor` owns it; its `Drop` (tch's `at_free`) frees
    // it with `delete`, once.
    unsafe { Tensor::from_ptr(ptr) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// Against autograd's weight gradient of the same convolution, in
    /// float64, for the layouts and geometries the nets use.
    #[test]
    fn weight_grad_equals_autograd() {
        tch::manual_seed(5);
        for (k, stride, padding, channels_last) in [
            (3, 1, 1, false),
            (4, 2, 1, true),
            (5, 2, 2, true),
            (3, 1, 0, false),
        ] {
            let opts = (Kind::Double, Device::Cpu);
            let mut x = Tensor::randn([3, 4, 9, 9], opts);
            if channels_last {
                x = crate::conv_layout(&x);
            }
            let w = Tensor::randn([6, 4, k, k], opts).set_requires_grad(true);
            let y = x.conv2d(&w, None::<Tensor>, [stride; 2], [padding; 2], [1, 1], 1);
            let g = y.randn_like();
            let want =
                Tensor::run_backward(&[(&y * &g).sum(Kind::Double)], &[&w], false, false).remove(0);
            let ours = conv2d_weight_grad(&g, &x, &w, stride, padding);
            assert!(!ours.requires_grad());
            assert_eq!(ours.size(), w.size());
            let err = (&ours - &want).abs().max().double_value(&[]);
            assert!(
                err < 1e-10,
                "k{k} s{stride} p{padding}: max difference {err}"
            );
        }
    }

    /// A shape mismatch is libtorch's error, reported, not a crash.
    #[test]
    #[should_panic(expected = "conv2d_weight_grad:")]
    fn mismatched_operands_panic_with_the_message() {
        let x = Tensor::zeros([1, 4, 5, 5], (Kind::Float, Device::Cpu));
        let w = Tensor::zeros([6, 3, 3, 3], (Kind::Float, Device::Cpu));
        let g = Tensor::zeros([1, 6, 5, 5], (Kind::Float, Device::Cpu));
        let _ = conv2d_weight_grad(&g, &x, &w, 1, 1);
    }

    /// An undefined operand is refused before the call, by name.
    #[test]
    #[should_panic(expected = "conv2d_weight_grad: input is an undefined tensor")]
    fn undefined_operands_panic_before_the_call() {
        let w = Tensor::zeros([6, 4, 3, 3], (Kind::Float, Device::Cpu));
        let g = Tensor::zeros([1, 6, 5, 5], (Kind::Float, Device::Cpu));
        let _ = conv2d_weight_grad(&g, &Tensor::new(), &w, 1, 1);
    }
}
