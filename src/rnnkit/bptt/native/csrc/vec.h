// Vectorized pointwise building blocks: activations, loads and stores with a tail, and
// the loop over a row's lanes.
#pragma once

#include <ATen/ATen.h>
#include <ATen/cpu/vec/vec.h>

#include <limits>
#include <type_traits>


namespace rnnkit {

using at::Tensor;
template <typename T>
using Vec = at::vec::Vectorized<T>;

// ATen's exp_u20 (at most 20 ulp off, about 1e-6 relative in float; the exact exp in
// double) is several times faster than Sleef's exp and tanh here, and both activations
// are built on it: sigmoid(x) = 1 / (1 + e^-x), tanh(x) = 2 sigmoid(2x) - 1.
//
// NaN and infinity come out as torch's: NaN stays NaN, e^inf = inf, sigmoid(inf) = 1,
// sigmoid(-inf) = 0, tanh(+-inf) = +-1. ATen's exp_u20 in float (AVX2, AVX-512) clamps
// its argument to [ln FLT_MIN, ln FLT_MAX] with minps/maxps, which return their second
// operand (there, the bound) when either is NaN: it turns NaN into a number. So the
// lanes not below that bound (NaN among them: the compare is ordered) take x * inf.
template <typename T>
inline Vec<T> exp(const Vec<T>& x) {
  if constexpr (std::is_same_v<T, float>) {
    const Vec<T> inf(std::numeric_limits<T>::infinity()), ln_max(T(88.72283935546875));
    return Vec<T>::blendv(x * inf, x.exp_u20(), x <= ln_max);
  } else {
    return x.exp_u20();  // Sleef's exp
  }
}

template <typename T>
inline Vec<T> sigmoid(const Vec<T>& x) {
  const Vec<T> one(T(1));
  return one / (one + exp(x.neg()));
}

#if defined(CPU_CAPABILITY_AVX512)
// ATen's exp_u20 in float (vec512_float.h), its argument clamped to [ln FLT_MIN, upper]
// with the bounds as the FIRST operands of minps/maxps, so that a NaN argument goes
// through as NaN, at no cost. At upper = ln FLT_MAX (ATen's bound) it overflows to inf,
// as exp does above that.
inline __m512 exp_u20(__m512 x, __m512 upper) {
  const __m512 ln_min = _mm512_castsi512_ps(_mm512_set1_epi32(0xc2aeac50));
  const __m512 log2e = _mm512_castsi512_ps(_mm512_set1_epi32(0x3fb8aa3b));
  const __m512 ln2 = _mm512_castsi512_ps(_mm512_set1_epi32(0x3f317218));
  const __m512 one = _mm512_set1_ps(1.f);
  const __mmask16 underflow = _mm512_cmp_ps_mask(x, ln_min, _CMP_LT_OS);
  const __m512 v = _mm512_max_ps(ln_min, _mm512_min_ps(upper, x));
  // v = n ln 2 + r, e^v = 2^n e^r, e^r by a polynomial; 2^n as 2 * 2^(n - 1), as 2^128
  // has no float exponent
  const __m512i rounded = _mm512_cvt_roundps_epi32(_mm512_fmadd_ps(v, log2e, _mm512_set1_ps(0.5f)),
                                                   _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  const __m512 n = _mm512_cvtepi32_ps(rounded);
  const __m512 r = _mm512_fnmadd_ps(n, ln2, v);
  __m512 p = _mm512_fmadd_ps(r, _mm512_set1_ps(0.00828929059f), _mm512_set1_ps(0.0418978221f));
  p = _mm512_fmadd_ps(r, p, _mm512_set1_ps(0.166676521f));
  p = _mm512_fmadd_ps(r, p, _mm512_set1_ps(0.499991506f));
  p = _mm512_fmadd_ps(r, p, _mm512_set1_ps(0.999999701f));
  p = _mm512_fmadd_ps(r, p, one);
  const __m512i biased = _mm512_add_epi32(_mm512_cvtps_epi32(_mm512_sub_ps(n, one)), _mm512_set1_epi32(127));
  const __m512 half_scale = _mm512_mask_blend_ps(underflow, _mm512_castsi512_ps(_mm512_slli_epi32(biased, 23)),
                                                 _mm512_setzero_ps());
  return _mm512_mul_ps(_mm512_mul_ps(p, half_scale), _mm512_set1_ps(2.f));
}

template <>
inline Vec<float> exp(const Vec<float>& x) {
  return Vec<float>(exp_u20(x, _mm512_castsi512_ps(_mm512_set1_epi32(0x42b17218))));  // ln FLT_MAX
}

// sigmoid in float on AVX-512, with the division replaced by a 14-bit reciprocal and one
// Newton step (r' = r (2 - d r), about 1 ulp), which costs a fraction of a division. e^-x
// is clamped at e^80, where d r would otherwise come to inf * 0 (sigmoid(-80) is 1.8e-35
// either way) and to denormals, which take a microcode assist; so -inf comes out as
// 1.8e-35 too, and one vfixupimmps, which maps an input class to a value, makes it 0
// (table: 4 bits per class, class 4 = -inf, response 8 = +0).
template <>
inline Vec<float> sigmoid(const Vec<float>& x) {
  const __m512 one = _mm512_set1_ps(1.f), two = _mm512_set1_ps(2.f);
  const __m512 d = _mm512_add_ps(one, exp_u20(Vec<float>(x).neg(), _mm512_set1_ps(80.f)));
  const __m512 r = _mm512_rcp14_ps(d);
  const __m512 s = _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, two));
  return Vec<float>(_mm512_fixupimm_ps(s, x, _mm512_set1_epi32(0x8 << 16), 0));
}
#endif

template <typename T>
inline Vec<T> tanh(const Vec<T>& x) {
  const Vec<T> two(T(2));
  return two * sigmoid(two * x) - Vec<T>(T(1));
}

// relu as torch.relu: NaN stays NaN (at::vec::maximum propagates it, unlike maxps).
template <typename T>
inline Vec<T> relu(const Vec<T>& x) {
  return at::vec::maximum(x, Vec<T>(T(0)));
}

// dL/dx of relu from its output y, as torch's threshold_backward: 0 where y <= 0, else
// dy, so that a NaN output passes its gradient on, and an infinite gradient meets no
// 0 * inf (the compare is ordered: false for NaN).
template <typename T>
inline Vec<T> relu_backward(const Vec<T>& dy, const Vec<T>& y) {
  const Vec<T> zero(T(0));
  return Vec<T>::blendv(dy, zero, y <= zero);
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
