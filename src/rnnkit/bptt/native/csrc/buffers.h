// Buffers of the time loops and the checks on what the Python side hands over.
#pragma once

#include <ATen/ATen.h>

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <utility>
#include <fstream>
#include <iterator>
#include <string>
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

// Whether asking for transparent huge pages cannot stall: under the kernel's THP defrag
// policies "always", "madvise" and "defer+madvise", a fault in a region marked
// MADV_HUGEPAGE compacts memory on the spot when no huge page is free. Measured on this
// project's machines (defrag = madvise): a layer-norm LSTM's 65 MB buffer took its
// forward from 30 to 110 ms after a few training steps, every step from then on.
inline bool huge_pages_cannot_stall() {
  static const bool safe = [] {
    std::ifstream file("/sys/kernel/mm/transparent_hugepage/defrag");
    const std::string policy((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    return policy.find("[defer]") != std::string::npos || policy.find("[never]") != std::string::npos;
  }();
  return safe;
}

// Freed loop buffers of 1 MB and more, kept for the next call that asks for the same
// size: training repeats the same shapes every step, and a buffer reused this way has its
// pages mapped already. Through malloc, a freed buffer's memory went back to the kernel
// (glibc trims the top of its heap, and maps anything over 32 MB afresh), and page faults
// cost about 0.3 ms per MB here: an LSTM with zoneout at (16,500,8,64) faulted 11 MB per
// forward, 3 of its 5 ms. At most kMaxBuffers and kMaxBytes are kept, the oldest leaving
// first, so the cache never holds more than a few steps' worth.
class BufferCache {
 public:
  static constexpr size_t kMinBytes = size_t(1) << 20, kMaxBytes = size_t(512) << 20, kMaxBuffers = 32;

  static BufferCache& instance() {
    static BufferCache* cache = new BufferCache();  // never destroyed: deleters may run at exit
    return *cache;
  }

  void* take(size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      if (it->second == bytes) {
        void* data = it->first;
        cached_ -= bytes;
        free_.erase(it);
        return data;
      }
    }
    return nullptr;
  }

  void give(void* data, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.emplace_back(data, bytes);
    cached_ += bytes;
    while (cached_ > kMaxBytes || free_.size() > kMaxBuffers) {
      cached_ -= free_.front().second;
      std::free(free_.front().first);
      free_.pop_front();
    }
  }

 private:
  std::mutex mutex_;
  std::deque<std::pair<void*, size_t>> free_;
  size_t cached_ = 0;
};

// A (T, B, ...) buffer of the loops: from malloc below 1 MB, else from the cache above or
// freshly allocated. A fresh one starts on a 2 MB boundary and, where huge pages cannot
// stall (above), asks for 2 MB pages over its whole 2 MB blocks (the tail keeps 4 KB
// pages, so no memory is wasted): a fresh 50 MB buffer then costs under 3 ms of faults
// instead of 14. Buffers are written in full when every sequence runs all T steps
// (`full`); otherwise the rows past a sequence's end must read as zero.
inline Tensor buffer(at::IntArrayRef shape, const Tensor& like, bool full) {
  constexpr size_t kHugePage = size_t(2) << 20;
  const size_t bytes = c10::multiply_integers(shape) * like.element_size();
  if (bytes < BufferCache::kMinBytes) return full ? at::empty(shape, like.options()) : at::zeros(shape, like.options());
  void* data = BufferCache::instance().take(bytes);
  if (!data) {
    TORCH_CHECK(posix_memalign(&data, kHugePage, bytes) == 0, "rnnkit native: out of memory for ", bytes, " bytes");
#ifdef MADV_HUGEPAGE
    // a hint; without huge pages it changes nothing
    if (huge_pages_cannot_stall()) madvise(data, bytes / kHugePage * kHugePage, MADV_HUGEPAGE);
#endif
  }
  if (!full) std::memset(data, 0, bytes);
  return at::from_blob(data, shape, [bytes](void* p) { BufferCache::instance().give(p, bytes); }, like.options());
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
