// Random keep-masks for zoneout: out[i] = 1 with probability p (to 1/65536), else 0.
//
// Each element's draw is a function of (seed, i) alone -- 16 bits of splitmix64 of
// seed + (i / 4) * golden ratio, the finaliser of Steele et al. 2014 -- so a mask is the
// same for any number of threads, and the seed comes from torch's generator, so
// torch.manual_seed fixes it. torch's own CPU generator costs about 3 ns per 64-bit draw
// here (0.4 ms for a (500, 16, 64) mask with four 16-bit draws per 64 bits, 1 ms with the
// comparison and conversion); this costs a tenth of that.
#include "common.h"

namespace rnnkit {
namespace {

inline uint64_t splitmix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

Tensor keep_mask(at::IntArrayRef shape, double p, int64_t seed, const Tensor& like) {
  TORCH_CHECK(p >= 0 && p <= 1, "rnnkit native: keep_mask needs p in [0, 1], got ", p);
  Tensor out = at::empty(shape, like.options());
  const int64_t n = out.numel(), words = n / 4;
  const uint64_t threshold = static_cast<uint64_t>(p * 65536.0 + 0.5);
  auto draw = [&](int64_t w) {
    return splitmix64(static_cast<uint64_t>(seed) + static_cast<uint64_t>(w) * 0x9E3779B97F4A7C15ull);
  };
  AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "keep_mask", [&] {
    using T = scalar_t;
    T* data = out.data_ptr<T>();
    // Whole words in a branch-free loop the compiler vectorises; then the last n % 4.
    at::parallel_for(0, words, 8192, [&](int64_t begin, int64_t end) {
      for (int64_t w = begin; w < end; ++w) {
        const uint64_t bits = draw(w);
        for (int64_t k = 0; k < 4; ++k) data[4 * w + k] = T(((bits >> (16 * k)) & 0xFFFF) < threshold);
      }
    });
    for (int64_t i = 4 * words; i < n; ++i) data[i] = T(((draw(words) >> (16 * (i % 4))) & 0xFFFF) < threshold);
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(rnnkit, m) {
  m.def("keep_mask(int[] shape, float p, int seed, Tensor like) -> Tensor");
}

// A CPU kernel, not a catch-all, so that its fake kernel (rnnkit/bptt/native/fakes.py)
// is used when tracing: a catch-all would run with fake tensors.
TORCH_LIBRARY_IMPL(rnnkit, CPU, m) {
  m.impl("keep_mask", &keep_mask);
}

}  // namespace rnnkit
