// Buffers of the time loops and the checks on what the Python side hands over.
#pragma once

#include <ATen/ATen.h>

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>

namespace rnnkit {

using at::Tensor;

// The optional bias as a pointer, or nullptr.
template <typename T>
inline const T* maybe(const std::optional<Tensor>& t) {
  return t.has_value() ? t->data_ptr<T>() : nullptr;
}

inline bool all_full(at::IntArrayRef batch_sizes, int64_t batch) {
  return std::all_of(batch_sizes.begin(), batch_sizes.end(), [&](int64_t b) { return b == batch; });
}

// A (T, B, ...) buffer of the loops. Those of 2 MB and more start on a 2 MB boundary and
// ask for 2 MB pages over their whole 2 MB blocks (the tail keeps 4 KB pages, so no memory
// is wasted): a fresh 50 MB buffer on 4 KB pages costs about 14 ms of page faults on these
// machines, on 2 MB pages under 3 ms. Buffers are written in full when every sequence runs
// all T steps (`full`); otherwise the rows past a sequence's end must read as zero.
inline Tensor buffer(at::IntArrayRef shape, const Tensor& like, bool full) {
  constexpr size_t kHugePage = size_t(2) << 20;
  const size_t bytes = c10::multiply_integers(shape) * like.element_size();
  if (bytes < kHugePage) return full ? at::empty(shape, like.options()) : at::zeros(shape, like.options());
  void* data = nullptr;
  TORCH_CHECK(posix_memalign(&data, kHugePage, bytes) == 0, "rnnkit native: out of memory for ", bytes, " bytes");
#ifdef MADV_HUGEPAGE
  madvise(data, bytes / kHugePage * kHugePage, MADV_HUGEPAGE);  // a hint; without huge pages it changes nothing
#endif
  if (!full) std::memset(data, 0, bytes);
  return at::from_blob(data, shape, [](void* p) { std::free(p); }, like.options());
}

inline void check_inputs(const Tensor& sequence, at::IntArrayRef batch_sizes) {
  TORCH_CHECK(sequence.device().is_cpu(), "rnnkit native: tensors must be on the CPU");
  TORCH_CHECK(sequence.dim() == 3 && sequence.is_contiguous(), "rnnkit native: expected a contiguous (T, B, ...) tensor");
  TORCH_CHECK(static_cast<int64_t>(batch_sizes.size()) == sequence.size(0), "rnnkit native: one batch size per step");
}

inline void check_step(const Tensor& x, const Tensor& h) {
  TORCH_CHECK(x.device().is_cpu() && x.is_contiguous() && h.is_contiguous(),
              "rnnkit native: a step takes contiguous CPU tensors");
}

}  // namespace rnnkit
