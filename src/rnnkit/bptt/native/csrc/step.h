// Streaming: the weights split for one step at batch size ~1, and running the parts.
#pragma once

#include "buffers.h"
#include "gemm.h"
#include "vec.h"

#include <vector>

namespace rnnkit {

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

}  // namespace rnnkit
