// What every native time loop shares: vectorized activations, a row-parallel loop,
// and the per-step GEMM on the faster of MKL (small) and oneDNN (large) products.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/native/CPUBlas.h>
#include <ATen/cpu/vec/vec.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <type_traits>
#include <vector>

namespace rnnkit {

using at::Tensor;
template <typename T>
using Vec = at::vec::Vectorized<T>;

// ATen's exp_u20 (at most 20 ulp off, about 1e-6 relative in float; the exact exp in
// double) is several times faster than Sleef's exp and tanh here, and both activations
// are built on it: sigmoid(x) = 1 / (1 + e^-x), tanh(x) = 2 sigmoid(2x) - 1.
template <typename T>
inline Vec<T> sigmoid(const Vec<T>& x) {
  const Vec<T> one(T(1));
  return one / (one + x.neg().exp_u20());
}

template <typename T>
inline Vec<T> tanh(const Vec<T>& x) {
  const Vec<T> two(T(2));
  return two * sigmoid(two * x) - Vec<T>(T(1));
}

// Calls f(begin, end) for a range of rows, spread over threads only when the step has
// enough elements to pay for waking them (a few microseconds each).
template <typename F>
inline void for_rows(int64_t rows, int64_t width, const F& f) {
  constexpr int64_t kElementsPerTask = 16384;
  const int64_t grain = std::max<int64_t>(1, kElementsPerTask / std::max<int64_t>(width, 1));
  at::parallel_for(0, rows, grain, f);
}

// Calls f(j, count) for j = 0, V, 2V, ... < width, count = lanes valid at j (V or the tail).
template <typename T, typename F>
inline void for_lanes(int64_t width, const F& f) {
  constexpr int64_t V = Vec<T>::size();
  int64_t j = 0;
  for (; j + V <= width; j += V) f(j, V);
  if (j < width) f(j, width - j);
}

template <typename T>
inline Vec<T> load(const T* p, int64_t count) {
  return count == Vec<T>::size() ? Vec<T>::loadu(p) : Vec<T>::loadu(p, count);
}

template <typename T>
inline void store(const Vec<T>& v, T* p, int64_t count) {
  if (count == Vec<T>::size()) {
    v.store(p);
  } else {
    v.store(p, static_cast<int>(count));
  }
}

// out (rows, N) = or += a (rows, K) @ weight.T, weight (N, K); row-major, contiguous.
// Measured on AMD EPYC (AVX-512): oneDNN's threaded GEMM is the fastest from about 4M
// multiply-adds (2x MKL's), and below that oneDNN's brgemm micro-kernel, called on raw
// pointers, beats both (2.3 us against MKL's 6.3 us at 16x64x256): at small sizes the
// cost of a call is the cost of the step. float64 goes to ATen's mm.
template <typename T>
class Gemm {
 public:
  Gemm(const Tensor& weight, bool onednn)
      : weight_(weight.contiguous()),
        n_(weight.size(0)),
        k_(weight.size(1)),
        onednn_(onednn && std::is_same_v<T, float>) {
#ifdef CPUBLAS_BRGEMM_F32F32F32
    if constexpr (std::is_same_v<T, float>) weight_kn_ = weight_.t().contiguous();
#endif
  }

  ~Gemm() {
#ifdef CPUBLAS_BRGEMM_F32F32F32
    if (weight_kn_.defined()) at::native::cpublas::brgemm_release(false);
#endif
  }

  void operator()(const T* a, int64_t rows, T* out, bool accumulate) const {
    constexpr int64_t kMinOneDnn = int64_t(1) << 22;
    if (rows == 0) return;
    if (onednn_ && rows * n_ * k_ >= kMinOneDnn) {
      const Tensor product = onednn(wrap(a, rows, k_));
      Tensor target = wrap(out, rows, n_);
      accumulate ? target.add_(product) : target.copy_(product);
      return;
    }
#ifdef CPUBLAS_BRGEMM_F32F32F32
    if constexpr (std::is_same_v<T, float>) {
      at::native::cpublas::brgemm(rows, n_, k_, k_, n_, n_, accumulate, a, weight_kn_.data_ptr<float>(), out,
                                  /*is_vnni=*/false);
      return;
    }
#endif
    Tensor target = wrap(out, rows, n_);
    if (accumulate) {
      target.addmm_(wrap(a, rows, k_), weight_.t());
    } else {
      at::mm_out(target, wrap(a, rows, k_), weight_.t());
    }
  }

 private:
  static Tensor wrap(const T* p, int64_t rows, int64_t cols) {
    return at::from_blob(const_cast<T*>(p), {rows, cols}, at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value));
  }

  Tensor onednn(const Tensor& a) const {
    static const auto op = c10::Dispatcher::singleton().findSchemaOrThrow("mkldnn::_linear_pointwise", "");
    std::vector<c10::IValue> stack{a, weight_, std::optional<Tensor>(), std::string("none"),
                                   c10::List<std::optional<at::Scalar>>(), std::optional<std::string>("")};
    op.callBoxed(&stack);
    return stack[0].toTensor();
  }

  Tensor weight_, weight_kn_;
  int64_t n_, k_;
  bool onednn_;
};

// The optional bias as a pointer, or nullptr.
template <typename T>
inline const T* maybe(const std::optional<Tensor>& t) {
  return t.has_value() ? t->data_ptr<T>() : nullptr;
}

template <typename T>
inline Vec<T> load_or_zero(const T* p, int64_t count) {
  return p ? load(p, count) : Vec<T>(T(0));
}

inline bool all_full(at::IntArrayRef batch_sizes, int64_t batch) {
  return std::all_of(batch_sizes.begin(), batch_sizes.end(), [&](int64_t b) { return b == batch; });
}

// A (T, B, ...) buffer of the loops. Those of 2 MB and more sit on 2 MB pages: a fresh
// 50 MB buffer on 4 KB pages costs about 14 ms of page faults on these machines, on huge
// pages under 3 ms. Buffers are written in full when every sequence runs all T steps
// (`full`); otherwise the rows past a sequence's end must read as zero.
inline Tensor buffer(at::IntArrayRef shape, const Tensor& like, bool full) {
  constexpr size_t kHugePage = size_t(2) << 20;
  const size_t bytes = c10::multiply_integers(shape) * like.element_size();
  if (bytes < kHugePage) return full ? at::empty(shape, like.options()) : at::zeros(shape, like.options());
  const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* data = nullptr;
  TORCH_CHECK(posix_memalign(&data, kHugePage, rounded) == 0, "rnnkit native: out of memory for ", bytes, " bytes");
#ifdef MADV_HUGEPAGE
  madvise(data, rounded, MADV_HUGEPAGE);  // a hint; without huge pages it changes nothing
#endif
  if (!full) std::memset(data, 0, bytes);
  return at::from_blob(data, shape, [](void* p) { std::free(p); }, like.options());
}

// ---- Streaming: one step at batch size ~1, where reading the weights is the whole cost.
// The weights are split by hidden units into one part per thread, each part holding every
// gate's columns for its units, transposed (K, gates * units): each core then streams
// only its share, which stays in its own cache from one step to the next. Small layers
// stay in one part, where waking a second thread would cost more than it saves.

inline int64_t unit_begin(int64_t H, int64_t parts, int64_t p) { return H * p / parts; }

// -> per part: W_ih block (I, gates*Hp), W_hh block (P, gates*Hp), b_ih block, b_hh block
// (empty when absent); with sum_biases, b_ih + b_hh in the first bias slot.
inline std::vector<Tensor> prepare_step(const Tensor& w_ih, const Tensor& w_hh, const std::optional<Tensor>& b_ih,
                                        const std::optional<Tensor>& b_hh, int64_t gates, bool sum_biases) {
  constexpr int64_t kSplitBytes = 256 * 1024;
  const int64_t H = w_ih.size(0) / gates;
  const int64_t bytes = (w_ih.numel() + w_hh.numel()) * w_ih.element_size();
  const int64_t parts = bytes >= kSplitBytes ? std::min<int64_t>(at::get_num_threads(), H) : 1;
  const Tensor none = at::empty({0}, w_ih.options());
  std::vector<Tensor> blocks;
  for (int64_t p = 0; p < parts; ++p) {
    const int64_t u0 = unit_begin(H, parts, p), u1 = unit_begin(H, parts, p + 1);
    const Tensor units = at::arange(u0, u1, at::kLong);
    std::vector<Tensor> columns;
    for (int64_t g = 0; g < gates; ++g) columns.push_back(units + g * H);
    const Tensor index = at::cat(columns);
    blocks.push_back(w_ih.index_select(0, index).t().contiguous());
    blocks.push_back(w_hh.index_select(0, index).t().contiguous());
    const Tensor bx = b_ih ? b_ih->index_select(0, index) : none;
    const Tensor bh = b_hh ? b_hh->index_select(0, index) : none;
    blocks.push_back(sum_biases && b_ih ? bx + bh : bx);
    blocks.push_back(sum_biases ? none : bh);
  }
  return blocks;
}

// out (rows, N) = or += a (rows, K) @ w (K, N), all contiguous.
template <typename T>
inline void gemm_kn(const T* a, int64_t rows, const Tensor& w, T* out, bool accumulate) {
  const int64_t K = w.size(0), N = w.size(1);
#ifdef CPUBLAS_BRGEMM_F32F32F32
  if constexpr (std::is_same_v<T, float>) {
    at::native::cpublas::brgemm(rows, N, K, K, N, N, accumulate, a, w.data_ptr<float>(), out, /*is_vnni=*/false);
    return;
  }
#endif
  const auto options = at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value);
  const Tensor a_t = at::from_blob(const_cast<T*>(a), {rows, K}, options);
  Tensor out_t = at::from_blob(out, {rows, N}, options);
  accumulate ? out_t.addmm_(a_t, w) : at::mm_out(out_t, a_t, w);
}

// Runs every part of a step, in parallel: row(b, u0, Hp, x_part, h_part, b_x, b_h) gets the
// part's products of x and of h for batch row b (h_part is null when `separate` is false:
// both products are then summed into x_part).
template <typename T, typename Row>
void step_parts(at::TensorList blocks, int64_t H, int64_t gates, const Tensor& x, const Tensor& h_prev,
                bool separate, const Row& row) {
  const int64_t parts = static_cast<int64_t>(blocks.size()) / 4, B = x.size(0);
  at::parallel_for(0, parts, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const int64_t u0 = unit_begin(H, parts, p), Hp = unit_begin(H, parts, p + 1) - u0, N = gates * Hp;
      std::vector<T> from_x(B * N), from_h(separate ? B * N : 0);
      gemm_kn<T>(x.data_ptr<T>(), B, blocks[4 * p], from_x.data(), /*accumulate=*/false);
      gemm_kn<T>(h_prev.data_ptr<T>(), B, blocks[4 * p + 1], separate ? from_h.data() : from_x.data(), !separate);
      const T* b_x = blocks[4 * p + 2].numel() ? blocks[4 * p + 2].data_ptr<T>() : nullptr;
      const T* b_h = blocks[4 * p + 3].numel() ? blocks[4 * p + 3].data_ptr<T>() : nullptr;
      for (int64_t b = 0; b < B; ++b) {
        row(b, u0, Hp, from_x.data() + b * N, separate ? from_h.data() + b * N : nullptr, b_x, b_h);
      }
    }
  });
}

inline void check_step(const Tensor& x, const Tensor& h) {
  TORCH_CHECK(x.device().is_cpu() && x.is_contiguous() && h.is_contiguous(),
              "rnnkit native: a step takes contiguous CPU tensors");
}

inline void check_inputs(const Tensor& gates_x, at::IntArrayRef batch_sizes) {
  TORCH_CHECK(gates_x.device().is_cpu(), "rnnkit native: tensors must be on the CPU");
  TORCH_CHECK(gates_x.dim() == 3 && gates_x.is_contiguous(), "rnnkit native: gates_x must be contiguous (T, B, G)");
  TORCH_CHECK(static_cast<int64_t>(batch_sizes.size()) == gates_x.size(0), "rnnkit native: one batch size per step");
}

}  // namespace rnnkit
