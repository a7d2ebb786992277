// Vectorized pointwise building blocks: activations, loads and stores with a tail, and
// the loop over a row's lanes.
#pragma once

#include <ATen/ATen.h>
#include <ATen/cpu/vec/vec.h>


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

#if defined(CPU_CAPABILITY_AVX512)
// The same in float on AVX-512, with the division replaced by a 14-bit reciprocal and one
// Newton step (r' = r (2 - d r), about 1 ulp), which costs a fraction of a division; the
// clamp keeps e^-x finite (sigmoid(-80) is 1.8e-35 either way).
template <>
inline Vec<float> sigmoid(const Vec<float>& x) {
  const __m512 one = _mm512_set1_ps(1.f), two = _mm512_set1_ps(2.f);
  const Vec<float> clamped(_mm512_max_ps(x, _mm512_set1_ps(-80.f)));
  const __m512 d = _mm512_add_ps(one, clamped.neg().exp_u20());
  const __m512 r = _mm512_rcp14_ps(d);
  return Vec<float>(_mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, two)));
}
#endif

template <typename T>
inline Vec<T> tanh(const Vec<T>& x) {
  const Vec<T> two(T(2));
  return two * sigmoid(two * x) - Vec<T>(T(1));
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

template <typename T>
inline Vec<T> load_or_zero(const T* p, int64_t count) {
  return p ? load(p, count) : Vec<T>(T(0));
}

}  // namespace rnnkit
