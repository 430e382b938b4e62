// A kernel libtorch has but tch does not bind: a convolution's weight
// gradient alone (`convolution_backward` with an output mask), so that an
// explicit backward pass can hand it operands of its own.
//
// Tensors cross as tch passes them: pointers to heap-allocated at::Tensor
// (tch's `C_tensor`), borrowed for the call. A result is a new at::Tensor
// allocated with `new`, owned by the caller from then on (tch's `Drop`
// frees it with `delete`). An error comes back as a NUL-terminated message
// in the caller's buffer `err` (of `err_len` bytes) and a null result: no
// C++ exception, of any type, ever crosses the C boundary.

#include <ATen/core/Tensor.h>
#include <ATen/ops/convolution_backward.h>

#include <cstdio>
#include <exception>

namespace {

// Writes `msg` into the caller's buffer, truncated and NUL-terminated.
void write_err(char *err, size_t err_len, const char *msg) noexcept {
  if (err != nullptr && err_len > 0) {
    std::snprintf(err, err_len, "%s", msg);
  }
}

} // namespace

extern "C" at::Tensor *meg_conv2d_weight_grad(const at::Tensor *grad_output,
                                               const at::Tensor *input,
                                               const at::Tensor *weight,
                                               int64_t stride, int64_t padding,
                                               char *err, size_t err_len) {
  try {
    if (grad_output == nullptr || input == nullptr || weight == nullptr) {
      write_err(err, err_len, "null tensor pointer");
      return nullptr;
    }
    auto r = at::convolution_backward(
        *grad_output, *input, *weight, /*bias_sizes=*/c10::nullopt,
        {stride, stride}, {padding, padding}, /*dilation=*/{1, 1},
        /*transposed=*/false, /*output_padding=*/{0, 0}, /*groups=*/1,
        {false, true, false});
    return new at::Tensor(std::get<1>(r));
  } catch (const std::exception &e) {
    write_err(err, err_len, e.what());
    return nullptr;
  } catch (...) {
    write_err(err, err_len, "unknown C++ exception");
    return nullptr;
  }
}
