// The per-step products of the team's threads (team.h): each thread multiplies by its own
// columns of a weight, packed once per sequence into blocks that stay in its cache.
#pragma once

#include <ATen/ATen.h>
#include <ATen/native/CPUBlas.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "team.h"

namespace rnnkit {

// The right-hand operand B (K, N) of a thread's products, copied once per sequence into
// blocks of kColumns columns, each block (K, kColumns) contiguous. Read in place from a
// weight matrix, a block's rows lie 2-4 KB apart, all in the same few cache sets, and are
// evicted before the next row of A comes past: (128,50,256,512) LSTM inference ran in
// 57 ms that way, against 52 ms with packed blocks.
template <typename T>
class PackedB {
 public:
  static constexpr int64_t kColumns = 64;

  PackedB() : K_(0), N_(0) {}

  // B[k][c] = column(c)[k * stride]: column(c) points at column c's first element (a
  // weight's row, with stride 1, when B is that weight transposed).
  template <typename Column>
  PackedB(int64_t K, int64_t N, int64_t stride, const Column& column)
      : K_(K), N_(N), data_(blocks() * K * kColumns) {
    const T* source[kColumns];
    for (int64_t b = 0; b < blocks(); ++b) {
      const int64_t c0 = b * kColumns, width = std::min(kColumns, N - c0);
      for (int64_t c = 0; c < width; ++c) source[c] = column(c0 + c);
      T* out = data_.data() + b * K * kColumns;
      for (int64_t k = 0; k < K; ++k) {
        for (int64_t c = 0; c < width; ++c) out[k * kColumns + c] = source[c][k * stride];
      }
    }
  }

  int64_t K() const { return K_; }
  int64_t N() const { return N_; }
  int64_t blocks() const { return (N_ + kColumns - 1) / kColumns; }
  const T* block(int64_t b) const { return data_.data() + b * K_ * kColumns; }

 private:
  int64_t K_, N_;
  std::vector<T> data_;
};

// A thread's columns of a gate-stacked weight w (gates * H, K), transposed: B (K, gates * n)
// holds gate g of unit units.begin + j in column g * n + j (n = units.size()), so that the
// product yields the thread's gates side by side.
template <typename T>
PackedB<T> pack_units(const T* w, int64_t K, int64_t H, int64_t gates, Share units) {
  const int64_t n = units.size();
  return PackedB<T>(K, gates * n, 1, [&](int64_t c) { return w + (c / n * H + units.begin + c % n) * K; });
}

// The same for a bias (gates * H): out[g * n + j] = b[g * H + units.begin + j]; empty if none.
template <typename T>
std::vector<T> pack_units(const T* b, int64_t H, int64_t gates, Share units) {
  std::vector<T> out;
  if (!b) return out;
  for (int64_t g = 0; g < gates; ++g) out.insert(out.end(), b + g * H + units.begin, b + g * H + units.end);
  return out;
}

// Columns [columns.begin, columns.end) of a row-major w (K, ld).
template <typename T>
PackedB<T> pack_columns(const T* w, int64_t K, int64_t ld, Share columns) {
  return PackedB<T>(K, columns.size(), ld, [&](int64_t c) { return w + columns.begin + c; });
}

// C (M, N) = or += A (M, K) @ B (K, N), row-major with leading dimensions lda, ldb, ldc, on
// the calling thread. float runs oneDNN's brgemm micro-kernel; float64 (tests, gradcheck) ATen.
template <typename T>
void gemm_rows(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc,
               bool accumulate) {
  if (M == 0 || N == 0) return;
#ifdef CPUBLAS_BRGEMM_F32F32F32
  if constexpr (std::is_same_v<T, float>) {
    at::native::cpublas::brgemm(M, N, K, lda, ldb, ldc, accumulate, A, B, C, /*is_vnni=*/false);
    return;
  }
#endif
  const auto options = at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value);
  const Tensor a = at::from_blob(const_cast<T*>(A), {M, K}, {lda, 1}, options);
  const Tensor b = at::from_blob(const_cast<T*>(B), {K, N}, {ldb, 1}, options);
  Tensor c = at::from_blob(C, {M, N}, {ldc, 1}, options);
  accumulate ? c.addmm_(a, b) : c.copy_(at::mm(a, b));
}

// C (M, N) = or += A (M, K) @ B, a block of B at a time (it stays in the core's cache while
// every row of A goes past).
template <typename T>
void product(int64_t M, const T* A, int64_t lda, const PackedB<T>& B, T* C, int64_t ldc, bool accumulate) {
  constexpr int64_t ldb = PackedB<T>::kColumns;
  for (int64_t b = 0; b < B.blocks(); ++b) {
    const int64_t c0 = b * ldb;
    gemm_rows(M, std::min(ldb, B.N() - c0), B.K(), A, lda, B.block(b), ldb, C + c0, ldc, accumulate);
  }
}

// Frees what brgemm keeps per thread; each thread calls it when its loop is done.
inline void release_product() {
#ifdef CPUBLAS_BRGEMM_F32F32F32
  at::native::cpublas::brgemm_release(false);
#endif
}

}  // namespace rnnkit
