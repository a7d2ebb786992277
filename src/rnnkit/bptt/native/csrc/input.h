// A thread's share of the input side of a sequence loop: the input projection in the
// forward loop and dL/dx in the backward loop, each for the thread's units or columns.
#pragma once

#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <vector>

#include "product.h"

namespace rnnkit {

// Rows per product of the input side (steps * batch): large enough for an efficient GEMM,
// small enough that the chunk stays in cache.
constexpr int64_t kRowsPerChunk = 1024;

// A thread's share of the input projection x @ W_ih.T (+ b): its units' gates side by side,
// (B, gates * units.size()) per step, formed a chunk of kRowsPerChunk rows at a time into one
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
  const T* x_;
  int64_t steps_, batch_, inputs_;
  PackedB<T> weight_;
  int64_t steps_per_chunk_;
  std::vector<T> buffer_;
  int64_t begin_ = -1;
};

// A thread's columns of dL/dx = dL/d gates_x @ W_ih (W_ih (G, I)), formed in the backward
// loop a chunk of kRowsPerChunk rows at a time, as soon as the loop has gone through the
// chunk's steps: dL/d gates_x of those steps is still in cache (rather than read again in
// one more pass over all of it afterwards), and each product still spans many rows (one
// product per step measured 0.5 ms slower over a (16,500,8,64) LSTM's backward: its
// narrow share of I made each call cost more than its work). The threads split I's
// columns when each gets a vector's width of them, and the chunk's rows otherwise (a
// narrow x: each share of fewer than 16 columns runs at a fraction of the FMA width).
// Does nothing when d_x is null (x needs no gradient).
template <typename T>
class InputGradientShare {
 public:
  InputGradientShare(const T* w_ih, int64_t G, int64_t inputs, int64_t steps, int64_t batch, const T* d_gates_x,
                     T* d_x, int64_t rank, int64_t threads)
      : by_columns_(inputs >= at::vec::Vectorized<T>::size() * threads),
        columns_(by_columns_ ? share_of(inputs, rank, threads, at::vec::Vectorized<T>::size()) : Share{0, inputs}),
        rank_(rank),
        threads_(threads),
        weight_(d_x ? pack_columns(w_ih, G, inputs, columns_) : PackedB<T>()),
        G_(G),
        inputs_(inputs),
        steps_(steps),
        batch_(batch),
        steps_per_chunk_(std::max<int64_t>(1, kRowsPerChunk / batch)),
        d_gates_x_(d_gates_x),
        d_x_(d_x) {}

  // Call after dL/d gates_x of step t (and of every later step) is complete.
  void step(int64_t t) {
    if (!d_x_ || t % steps_per_chunk_ != 0) return;
    const int64_t rows = (std::min(steps_, t + steps_per_chunk_) - t) * batch_;
    const Share mine = by_columns_ ? Share{0, rows} : share_of(rows, rank_, threads_, 1);
    const int64_t r0 = t * batch_ + mine.begin;
    product(mine.size(), d_gates_x_ + r0 * G_, G_, weight_, d_x_ + r0 * inputs_ + columns_.begin, inputs_,
            /*accumulate=*/false);
  }

 private:
  bool by_columns_;
  Share columns_;
  int64_t rank_, threads_;
  PackedB<T> weight_;
  int64_t G_, inputs_, steps_, batch_, steps_per_chunk_;
  const T* d_gates_x_;
  T* d_x_;
};

}  // namespace rnnkit
