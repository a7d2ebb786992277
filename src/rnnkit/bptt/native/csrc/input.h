// A thread's share of the input side of a sequence loop: the input projection in the
// forward loop and dL/dx in the backward loop, each for the thread's units or columns.
#pragma once

#include <ATen/cpu/vec/vec.h>

#include <algorithm>
#include <vector>

#include "product.h"

namespace rnnkit {

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

}  // namespace rnnkit
