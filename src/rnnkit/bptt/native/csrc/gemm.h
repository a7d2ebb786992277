// The per-step products of the time loops, on the fastest library for the size.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/native/CPUBlas.h>

#include <algorithm>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace rnnkit {

using at::Tensor;

// out (rows, N) = or += a (rows, K) @ weight.T, weight (N, K); row-major, contiguous.
// Measured on AMD EPYC (AVX-512), per-step products: oneDNN's brgemm micro-kernel on raw
// pointers beats MKL 2-3x at small sizes (2.3 us against 6.3 us at 16x64x256), where the
// cost of a call is the cost of a step; split by columns over the threads from 0.5M
// multiply-adds on, it also beats oneDNN's own threaded GEMM call (64x256x1024: the
// LSTM forward took 15 ms against 24 ms); oneDNN wins from about 64M multiply-adds (the
// input projection's chunks, the per-step products at H=512). float64 goes to ATen's mm.
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
    constexpr int64_t kMinOneDnn = int64_t(1) << 26;
    if (rows == 0) return;
    if (onednn_ && rows * n_ * k_ >= kMinOneDnn) {
      const Tensor product = onednn(wrap(a, rows, k_));
      Tensor target = wrap(out, rows, n_);
      accumulate ? target.add_(product) : target.copy_(product);
      return;
    }
#ifdef CPUBLAS_BRGEMM_F32F32F32
    if constexpr (std::is_same_v<T, float>) {
      // Mid-sized products are split by columns over the threads; waking them costs a
      // few microseconds, more than the whole product below about 0.5M multiply-adds.
      constexpr int64_t kMinThreaded = int64_t(1) << 19, kColumnAlign = 16;
      const int64_t parts = rows * n_ * k_ >= kMinThreaded ? at::get_num_threads() : 1;
      const float* w = weight_kn_.data_ptr<float>();
      at::parallel_for(0, parts, 1, [&](int64_t begin, int64_t end) {
        for (int64_t p = begin; p < end; ++p) {
          const int64_t n0 = n_ * p / parts / kColumnAlign * kColumnAlign;
          const int64_t n1 = p + 1 == parts ? n_ : n_ * (p + 1) / parts / kColumnAlign * kColumnAlign;
          if (n1 > n0) {
            at::native::cpublas::brgemm(rows, n1 - n0, k_, k_, n_, n_, accumulate, a, w + n0, out + n0,
                                        /*is_vnni=*/false);
          }
        }
      });
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

// gates_x = x @ W_ih.T for step t, computed a chunk of steps at a time into one reused
// buffer: the whole (T, B, G) input projection never exists, which saves its memory and
// the page faults of a fresh buffer that size, while each product still spans many rows.
template <typename T>
class InputChunks {
 public:
  InputChunks(const Tensor& x, const Tensor& w_ih, bool onednn)
      : x_(x.data_ptr<T>()),
        steps_(x.size(0)),
        batch_(x.size(1)),
        inputs_(x.size(2)),
        gates_(w_ih.size(0)),
        gemm_(w_ih, onednn),
        steps_per_chunk_(std::max<int64_t>(1, kRowsPerChunk / batch_)),
        buffer_(std::min(steps_per_chunk_, steps_) * batch_ * gates_) {}

  const T* step(int64_t t) {
    if (t < begin_ || t >= end_) {
      begin_ = t;
      end_ = std::min(steps_, t + steps_per_chunk_);
      gemm_(x_ + t * batch_ * inputs_, (end_ - begin_) * batch_, buffer_.data(), /*accumulate=*/false);
    }
    return buffer_.data() + (t - begin_) * batch_ * gates_;
  }

 private:
  static constexpr int64_t kRowsPerChunk = 1024;
  const T* x_;
  int64_t steps_, batch_, inputs_, gates_;
  Gemm<T> gemm_;
  int64_t steps_per_chunk_;
  std::vector<T> buffer_;
  int64_t begin_ = 0, end_ = 0;
};

}  // namespace rnnkit
