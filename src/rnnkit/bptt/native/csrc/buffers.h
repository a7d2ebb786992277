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

// A (T, B, ...) buffer of the loops. Up to 32 MB, glibc's malloc (behind at::empty) hands
// a freed buffer back to the next call of the same size, its pages already mapped; past
// that (its largest mmap threshold) every buffer is freshly mapped, and page faults on
// 4 KB pages cost about 0.3 ms per MB here. Those start on a 2 MB boundary and ask for
// 2 MB pages over their whole 2 MB blocks (the tail keeps 4 KB pages, so no memory is
// wasted): a fresh 50 MB buffer then costs under 3 ms of faults instead of 14. (Asking
// for huge pages from 2 MB on lost malloc's reuse: an 8 MB buffer cost 1-2 ms a call.)
// Buffers are written in full when every sequence runs all T steps (`full`); otherwise
// the rows past a sequence's end must read as zero.
inline Tensor buffer(at::IntArrayRef shape, const Tensor& like, bool full) {
  constexpr size_t kHugePage = size_t(2) << 20, kMallocReuses = size_t(32) << 20;
  const size_t bytes = c10::multiply_integers(shape) * like.element_size();
  if (bytes < kMallocReuses) return full ? at::empty(shape, like.options()) : at::zeros(shape, like.options());
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
