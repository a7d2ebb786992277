// Zoneout's keep-the-previous-state mask as the loops read it (rnnkit/layers/regularisers.py):
// a (T, B, H) tensor of 0/1 in training, or a 0-d tensor holding the rate p (inference,
// where the expectation p * s_{t-1} + (1 - p) * s_t is used), or none.
#pragma once

#include <optional>

#include "vec.h"

namespace rnnkit {

template <typename T>
struct Zoneout {
  const T* mask;  // (T, B, H) of 0/1, or null: `rate` for every unit (inference)
  T rate;
  bool on;
  int64_t B, H;
  // z of row r at step t, lanes j..
  Vec<T> at(int64_t t, int64_t r, int64_t j, int64_t lanes) const {
    return mask ? load(mask + (t * B + r) * H + j, lanes) : Vec<T>(rate);
  }
};

template <typename T>
Zoneout<T> zoneout_of(const std::optional<Tensor>& z, int64_t B, int64_t H) {
  if (!z) return {nullptr, T(0), false, B, H};
  if (z->dim() == 0) return {nullptr, z->item<T>(), true, B, H};
  return {z->data_ptr<T>(), T(0), true, B, H};
}

}  // namespace rnnkit
