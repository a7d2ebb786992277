// A team of threads that runs a whole sequence loop: the hidden units are split over the
// threads, each thread computes its own units' share of every per-step product and their
// pointwise part, and the team meets once per step at a barrier (the next step's product
// reads every unit of the last one).
//
// Why not at::parallel_for around each product and each pointwise pass: every call forks
// and joins the threads, which costs a few microseconds, about as much as a whole step of
// a small layer. Measured on the 2-core AMD EPYC, LSTM inference at (B,T,I,H) =
// (16,500,8,64): 2.2 ms with a fork and join per product and pass, 1.3 ms as one team
// (torch.nn.LSTM on oneDNN: 2.0 ms); at (128,50,256,512) both ran at torch.nn's speed once
// each thread's product went over its columns in blocks that stay in its cache.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/native/CPUBlas.h>
#include <ATen/cpu/vec/vec.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <type_traits>
#include <vector>

namespace rnnkit {

using at::Tensor;

// A thread's share [begin, end) of n columns or units.
struct Share {
  int64_t begin, end;
  int64_t size() const { return end - begin; }
};

// Thread `rank` of `threads` gets an equal share of n, cut on multiples of `align` (a
// vector's width, so that only the last share has a tail) when n allows it.
inline Share share_of(int64_t n, int64_t rank, int64_t threads, int64_t align) {
  const int64_t unit = n >= align * threads ? align : 1;
  auto cut = [&](int64_t r) { return r == threads ? n : n / unit * r / threads * unit; };
  return {cut(rank), cut(rank + 1)};
}

// How many threads a loop whose every step does `multiply_adds` should run on: below about
// 16K a step takes well under a microsecond, less than a barrier between two threads.
inline int64_t team_size(int64_t multiply_adds) {
  constexpr int64_t kMinPerStep = int64_t(1) << 14;
  return multiply_adds >= kMinPerStep ? at::get_num_threads() : 1;
}

// Runs body(rank, threads) on every thread of a team of up to `threads` (all of them in one
// parallel region; serially inside another parallel region or without OpenMP). The body
// must not throw: a thread leaving early would leave the others waiting at a barrier.
template <typename Body>
void run_team(int64_t threads, const Body& body) {
#ifdef _OPENMP
  if (threads > 1 && !omp_in_parallel()) {
#pragma omp parallel num_threads(threads)
    body(omp_get_thread_num(), omp_get_num_threads());
    return;
  }
#endif
  body(0, 1);
}

// Waits for every thread of the team (nothing to wait for outside a parallel region).
inline void team_barrier() {
#ifdef _OPENMP
#pragma omp barrier
#endif
}

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

// A thread's share of the input projection x @ W_ih.T (+ b): its units' gates side by side,
// (B, gates * units.size()) per step, formed a chunk of about 1024 rows at a time into one
// reused buffer, so that the whole (T, B, G) projection never exists (its memory, and the
// page faults of a fresh buffer that size) while each product still spans many rows.
template <typename T>
class InputShare {
 public:
  InputShare(const T* x, int64_t steps, int64_t batch, int64_t inputs, const T* w_ih, int64_t H, int64_t gates,
             Share units)
      : x_(x),
        steps_(steps),
        batch_(batch),
        inputs_(inputs),
        weight_(pack_units(w_ih, inputs, H, gates, units)),
        steps_per_chunk_(std::max<int64_t>(1, kRowsPerChunk / batch)),
        buffer_(std::min(steps_per_chunk_, steps) * batch * weight_.N()) {}

  // Step t's share; the caller may add to it in place.
  T* step(int64_t t) {
    const int64_t chunk = t / steps_per_chunk_ * steps_per_chunk_;
    if (chunk != begin_) {
      begin_ = chunk;
      const int64_t rows = (std::min(steps_, chunk + steps_per_chunk_) - chunk) * batch_;
      product(rows, x_ + chunk * batch_ * inputs_, inputs_, weight_, buffer_.data(), weight_.N(), false);
    }
    return buffer_.data() + (t - begin_) * batch_ * weight_.N();
  }

 private:
  static constexpr int64_t kRowsPerChunk = 1024;
  const T* x_;
  int64_t steps_, batch_, inputs_;
  PackedB<T> weight_;
  int64_t steps_per_chunk_;
  std::vector<T> buffer_;
  int64_t begin_ = -1;
};

// A thread's columns of dL/dx_t = dL/d gates_x[t] @ W_ih (W_ih (G, I)), formed in the
// backward loop while the step's dL/d gates is still in cache, rather than in one more
// pass over all of it afterwards. Does nothing when d_x is null (x needs no gradient).
template <typename T>
class InputGradientShare {
 public:
  InputGradientShare(const T* w_ih, int64_t G, int64_t inputs, int64_t batch, T* d_x, int64_t rank, int64_t threads)
      : columns_(share_of(inputs, rank, threads, at::vec::Vectorized<T>::size())),
        weight_(d_x ? pack_columns(w_ih, G, inputs, columns_) : PackedB<T>()),
        G_(G),
        inputs_(inputs),
        batch_(batch),
        d_x_(d_x) {}

  void step(int64_t t, int64_t rows, const T* d_gates_x) {
    if (d_x_) product(rows, d_gates_x, G_, weight_, d_x_ + t * batch_ * inputs_ + columns_.begin, inputs_, false);
  }

 private:
  Share columns_;
  PackedB<T> weight_;
  int64_t G_, inputs_, batch_;
  T* d_x_;
};

// Frees what brgemm keeps per thread; each thread calls it when its loop is done.
inline void release_product() {
#ifdef CPUBLAS_BRGEMM_F32F32F32
  at::native::cpublas::brgemm_release(false);
#endif
}

}  // namespace rnnkit
