// Facts about the loaded libtorch that tch does not expose: ATen's CPU
// capability, the kernel level its dispatcher chose for this CPU (lowered by
// ATEN_CPU_CAPABILITY). Writes a NUL-terminated string into `out`; never
// throws across the C boundary.

#include <ATen/Version.h>

#include <cstdio>
#include <exception>

extern "C" void meg_cpu_capability(char *out, size_t out_len) {
  try {
    std::snprintf(out, out_len, "%s", at::get_cpu_capability().c_str());
  } catch (...) {
    std::snprintf(out, out_len, "unknown");
  }
}
