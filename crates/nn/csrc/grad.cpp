// A kernel libtorch has but tch does not bind: a convolution's weight
// gradient alone (`convolution_backward` with an output mask), so that an
// explicit backward pass can hand it operands of its own.
//
// Tensors cross as tch passes them: pointers to heap-allocated at::Tensor.
// An error comes back as a message in `err` and a null result, never as a
// C++ exception across the C boundary.

#include <ATen/core/Tensor.h>
#include <ATen/ops/convolution_backward.h>

#include <cstdio>
#include <exception>

extern "C" at::Tensor *meg_conv2d_weight_grad(const at::Tensor *grad_output,
                                               const at::Tensor *input,
                                               const at::Tensor *weight,
                                               int64_t stride, int64_t padding,
                                               char *err, size_t err_len) {
  try {
    auto r = at::convolution_backward(
        *grad_output, *input, *weight, /*bias_sizes=*/c10::nullopt,
        {stride, stride}, {padding, padding}, /*dilation=*/{1, 1},
        /*transposed=*/false, /*output_padding=*/{0, 0}, /*groups=*/1,
        {false, true, false});
    return new at::Tensor(std::get<1>(r));
  } catch (const std::exception &e) {
    std::snprintf(err, err_len, "%s", e.what());
    return nullptr;
  }
}
