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

// A thread's share of the input projection x @ W_ih.T: its rows and units (team.h), the
// units' gates side by side, (rows, gates * units) per step. With all of the batch's rows,
// it is formed a chunk of kRowsPerChunk rows at a time into one reused buffer, so that the
// whole (T, B, G) projection never exists (its memory, and the page faults of a fresh
// buffer that size) while each product still spans many rows; with a share of the rows,
// which are not contiguous from one step to the next, a step at a time.
template <typename T>
class InputShare {
 public:
  InputShare(const T* x, int64_t steps, int64_t batch, int64_t inputs, const T* w_ih, int64_t H, int64_t gates,
             const Split& split)
      : x_(x),
        steps_(steps),
        batch_(batch),
        inputs_(inputs),
        rows_(split.rows),
        weight_(pack_units(w_ih, inputs, H, gates, split.units)),
        steps_per_chunk_(rows_.size() == batch ? std::max<int64_t>(1, kRowsPerChunk / batch) : 1),
        buffer_(std::min(steps_per_chunk_, steps) * rows_.size() * weight_.N()) {}

  // Step t's share, row r of the batch at (r - rows.begin) * gates * units; the caller may
  // add to it in place.
  T* step(int64_t t) {
    const int64_t chunk = t / steps_per_chunk_ * steps_per_chunk_;
    if (chunk != begin_) {
      begin_ = chunk;
      const int64_t rows = (std::min(steps_, chunk + steps_per_chunk_) - chunk) * rows_.size();
      const T* x = x_ + (chunk * batch_ + rows_.begin) * inputs_;
      product(rows, x, inputs_, weight_, buffer_.data(), weight_.N(), /*accumulate=*/false);
    }
    return buffer_.data() + (t - begin_) * rows_.size() * weight_.N();
  }

 private:
  const T* x_;
  int64_t steps_, batch_, inputs_;
  Share rows_;
  PackedB<T> weight_;
  int64_t steps_per_chunk_;
  std::vector<T> buffer_;
  int64_t begin_ = -1;
};

// A thread's share of dL/dx = dL/d gates_x @ W_ih (W_ih (G, I)), formed in the backward
// loop while the steps' dL/d gates_x is still in cache, rather than in one more pass over
// all of it afterwards. Split by rows (team.h), each thread forms its own rows, a step at
// a time. Split by units, the team forms a chunk of kRowsPerChunk rows at a time, as soon
// as every thread is through the chunk's steps (one product per step measured 0.5 ms
// slower over a (16,500,8,64) LSTM's backward: each call cost more than its work); the
// threads share I's columns when each gets a vector's width of them, the chunk's rows
// otherwise (a share of fewer than 16 columns runs at a fraction of the FMA width).
// Does nothing when d_x is null (x needs no gradient).
template <typename T>
class InputGradientShare {
 public:
  InputGradientShare(const T* w_ih, int64_t G, int64_t inputs, int64_t steps, int64_t batch, const T* d_gates_x,
                     T* d_x, const Split& split)
      : split_(split),
        by_columns_(!split.by_rows && inputs >= at::vec::Vectorized<T>::size() * split.threads),
        columns_(by_columns_ ? split.columns(inputs, at::vec::Vectorized<T>::size()) : Share{0, inputs}),
        weight_(d_x ? pack_columns(w_ih, G, inputs, columns_) : PackedB<T>()),
        G_(G),
        inputs_(inputs),
        steps_(steps),
        batch_(batch),
        steps_per_chunk_(std::max<int64_t>(1, kRowsPerChunk / batch)),
        d_gates_x_(d_gates_x),
        d_x_(d_x) {}

  // Call once this thread's dL/d gates_x of step t is complete (split by rows), or the
  // team's (split by units: after the step's barrier).
  void step(int64_t t) {
    if (!d_x_) return;
    if (split_.by_rows) return rows(t * batch_ + split_.rows.begin, split_.rows.size());
    if (t % steps_per_chunk_ != 0) return;
    const int64_t count = (std::min(steps_, t + steps_per_chunk_) - t) * batch_;
    const Share mine = by_columns_ ? Share{0, count} : share_of(count, split_.rank, split_.threads, 1);
    rows(t * batch_ + mine.begin, mine.size());
  }

 private:
  void rows(int64_t first, int64_t count) {
    product(count, d_gates_x_ + first * G_, G_, weight_, d_x_ + first * inputs_ + columns_.begin, inputs_,
            /*accumulate=*/false);
  }

  Split split_;
  bool by_columns_;
  Share columns_;
  PackedB<T> weight_;
  int64_t G_, inputs_, steps_, batch_, steps_per_chunk_;
  const T* d_gates_x_;
  T* d_x_;
};

}  // namespace rnnkit
