// Streaming: the weights split for one step at batch size ~1, and running the parts.
#pragma once

#include "buffers.h"
#include "product.h"
#include "vec.h"

#include <vector>

namespace rnnkit {

// ---- Streaming: one step at batch size ~1, where reading the weights is the whole cost.
// The weights are split by hidden units into one part per thread, each part holding every
// gate's columns for its units, transposed: each core then streams only its share. Small
// layers stay in one part, where waking a second thread would cost more than it saves.
//
// All parts live in one tensor (parts, L), part p's row holding, for its Hp units and N =
// gates * Hp columns: W_ih's block (I, N), W_hh's block (P, N), b_ih's and b_hh's (N each,
// zeros when absent; with sum_biases, b_ih + b_hh then zeros). One tensor rather than a
// list: a Tensor[] argument costs about 2 us more per call to dispatch, a tenth of a step.
//
// The step ops are CPU kernels, not catch-alls: torch.compile and torch.export then trace
// them through their fake kernels (rnnkit/bptt/native/fakes.py); a catch-all would run
// its C++ body on fake tensors.

inline int64_t unit_begin(int64_t H, int64_t parts, int64_t p) { return H * p / parts; }

inline Tensor prepare_step(const Tensor& w_ih, const Tensor& w_hh, const std::optional<Tensor>& b_ih,
                           const std::optional<Tensor>& b_hh, int64_t gates, bool sum_biases) {
  constexpr int64_t kSplitBytes = 256 * 1024;
  const int64_t H = w_ih.size(0) / gates, I = w_ih.size(1), P = w_hh.size(1);
  const int64_t bytes = (w_ih.numel() + w_hh.numel()) * w_ih.element_size();
  const int64_t parts = bytes >= kSplitBytes ? std::min<int64_t>(at::get_num_threads(), H) : 1;
  const Tensor zeros = at::zeros({gates * H}, w_ih.options());
  const Tensor bx = b_ih ? (sum_biases ? *b_ih + *b_hh : *b_ih) : zeros;
  const Tensor bh = b_hh && !sum_biases ? *b_hh : zeros;
  const int64_t widest = gates * (unit_begin(H, parts, 1) + (H % parts ? 1 : 0));
  Tensor prepared = at::zeros({parts, (I + P + 2) * widest}, w_ih.options());
  for (int64_t p = 0; p < parts; ++p) {
    const int64_t u0 = unit_begin(H, parts, p), u1 = unit_begin(H, parts, p + 1);
    const Tensor units = at::arange(u0, u1, at::kLong);
    std::vector<Tensor> columns;
    for (int64_t g = 0; g < gates; ++g) columns.push_back(units + g * H);
    const Tensor index = at::cat(columns);
    const Tensor part = at::cat({w_ih.index_select(0, index).t().reshape(-1), w_hh.index_select(0, index).t().reshape(-1),
                                 bx.index_select(0, index), bh.index_select(0, index)});
    prepared[p].narrow(0, 0, part.numel()).copy_(part);
  }
  return prepared;
}

// Runs every part of a step, in parallel: row(b, u0, Hp, x_part, h_part, b_x, b_h) gets the
// part's products of x and of h for batch row b (h_part is null when `separate` is false:
// both products are then summed into x_part).
template <typename T, typename Row>
void step_parts(const Tensor& prepared, int64_t H, int64_t gates, const Tensor& x, const Tensor& h_prev,
                bool separate, const Row& row) {
  const int64_t parts = prepared.size(0), B = x.size(0), I = x.size(1), P = h_prev.size(1);
  at::parallel_for(0, parts, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const int64_t u0 = unit_begin(H, parts, p), Hp = unit_begin(H, parts, p + 1) - u0, N = gates * Hp;
      const T* w_x = prepared.data_ptr<T>() + p * prepared.size(1);
      const T* w_h = w_x + I * N;
      const T* b_x = w_h + P * N;
      const T* b_h = b_x + N;
      std::vector<T> from_x(B * N), from_h(separate ? B * N : 0);
      gemm_rows<T>(B, N, I, x.data_ptr<T>(), I, w_x, N, from_x.data(), N, /*accumulate=*/false);
      gemm_rows<T>(B, N, P, h_prev.data_ptr<T>(), P, w_h, N, separate ? from_h.data() : from_x.data(), N, !separate);
      for (int64_t b = 0; b < B; ++b) {
        row(b, u0, Hp, from_x.data() + b * N, separate ? from_h.data() + b * N : nullptr, b_x, b_h);
      }
    }
  });
}

}  // namespace rnnkit
