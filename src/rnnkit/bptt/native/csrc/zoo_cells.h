// The pointwise parts of the cells the extended loop runs (extended.cpp), one struct per
// cell, each the C++ twin of its Python Pointwise (rnnkit/cells/), which documents the
// equations. A struct works on one batch row, all H units:
//
//   forward(H, params, gx, gh, prev, next, saved, work)
//     gx, gh: the row's input and recurrent gates (G = gates * H; either may be overwritten);
//     prev / next: the state entries (each H wide) before and after the step;
//     saved: saved_width(H) values for backward; work: scratch of that size.
//   backward(H, params, grad, saved, prev, d_gx, d_gh, d_prev, d_params, work)
//     grad: dL/d(new state) per entry; writes dL/d gates_x into d_gx, dL/d gates_h into
//     d_gh when `separate` (else d_gx serves both), the pointwise part of dL/d(prev state)
//     into d_prev (entry 0 without dL/d gates_h @ W_hh), and adds dL/d params (the loop's
//     own ones, in the Python order) into d_params.
#pragma once

#include <cmath>
#include <vector>

#include "vec.h"

namespace rnnkit {

template <typename T>
using In = std::vector<const T*>;
template <typename T>
using Out = std::vector<T*>;

template <typename T>
inline T sum_lanes(const Vec<T>& v) {
  alignas(64) T lanes[Vec<T>::size()];
  v.store(lanes);
  T sum = 0;
  for (int64_t k = 0; k < Vec<T>::size(); ++k) sum += lanes[k];
  return sum;
}

// Layer norm of one row of N values (rnnkit/cells/layer_norm.py); returns rstd. out may
// be v. (A partial vector loads zeros into its missing lanes, so the sum needs no mask;
// the sum of squares does.)
template <typename T>
T normalize_row(int64_t N, const T* v, const T* gamma, const T* beta, T* out, T* v_hat) {
  Vec<T> sum(T(0)), squares(T(0));
  for_lanes<T>(N, [&](int64_t j, int64_t n) { sum += load(v + j, n); });
  const Vec<T> mean(sum_lanes(sum) / T(N));
  for_lanes<T>(N, [&](int64_t j, int64_t n) {
    const Vec<T> centred = load(v + j, n) - mean;
    squares = at::vec::fmadd(n == Vec<T>::size() ? centred : Vec<T>::set(Vec<T>(T(0)), centred, n), centred, squares);
  });
  const T rstd = T(1) / std::sqrt(sum_lanes(squares) / T(N) + T(1e-5));
  const Vec<T> scale(rstd);
  for_lanes<T>(N, [&](int64_t j, int64_t n) {
    const Vec<T> hat = (load(v + j, n) - mean) * scale;
    store(hat, v_hat + j, n);
    store(hat * load(gamma + j, n) + load(beta + j, n), out + j, n);
  });
  return rstd;
}

// d_v = rstd (d - mean(d) - v_hat mean(d v_hat)), d = d_out * gamma; d_v may be d_out.
template <typename T>
void normalize_row_backward(int64_t N, const T* d_out, const T* v_hat, T rstd, const T* gamma, T* d_v, T* d_gamma,
                            T* d_beta) {
  Vec<T> sum_d(T(0)), sum_dv(T(0));
  for_lanes<T>(N, [&](int64_t j, int64_t n) {
    const Vec<T> g = load(d_out + j, n), hat = load(v_hat + j, n), d = g * load(gamma + j, n);
    sum_d += d;
    sum_dv += d * hat;
    store(load(d_gamma + j, n) + g * hat, d_gamma + j, n);
    store(load(d_beta + j, n) + g, d_beta + j, n);
  });
  const Vec<T> mean_d(sum_lanes(sum_d) / T(N)), mean_dv(sum_lanes(sum_dv) / T(N)), scale(rstd);
  for_lanes<T>(N, [&](int64_t j, int64_t n) {
    const Vec<T> d = load(d_out + j, n) * load(gamma + j, n);
    store(scale * (d - mean_d - load(v_hat + j, n) * mean_dv), d_v + j, n);
  });
}

template <typename T>
inline Vec<T> at(const T* p, int64_t offset, int64_t j, int64_t lanes) {
  return load(p + offset + j, lanes);
}

// Stores values[k] at p + k * H + j: a row's per-gate blocks side by side.
template <typename T, typename... V>
inline void store_blocks(T* p, int64_t H, int64_t j, int64_t lanes, const V&... values) {
  int64_t k = 0;
  (store(values, p + (k++) * H + j, lanes), ...);
}

// log sigmoid(x) = min(x, 0) - log1p(exp(-|x|)), without overflow (exp: see vec.h).
template <typename T>
inline Vec<T> log_sigmoid(const Vec<T>& x) {
  return at::vec::minimum(x, Vec<T>(T(0))) - exp(x.abs().neg()).log1p();
}

struct LSTMRow {
  static constexpr int gates = 4, states = 2;
  static constexpr bool separate = false;
  static int64_t saved_width(int64_t H) { return 5 * H; }

  template <typename T>
  static void forward(int64_t H, const In<T>&, T* gx, T* gh, const In<T>& prev, const Out<T>& next, T* s, T*) {
    for_lanes<T>(H, [&](int64_t j, int64_t n) {
      auto a = [&](int64_t g) { return at(gx, g * H, j, n) + at(gh, g * H, j, n); };
      const Vec<T> i = sigmoid(a(0)), f = sigmoid(a(1)), g = tanh(a(2)), o = sigmoid(a(3));
      const Vec<T> c = f * at(prev[1], 0, j, n) + i * g, tc = tanh(c);
      store(o * tc, next[0] + j, n);
      store(c, next[1] + j, n);
      store_blocks(s, H, j, n, i, f, g, o, tc);
    });
  }

  template <typename T>
  static void backward(int64_t H, const In<T>&, const Out<T>& grad, const T* s, const In<T>& prev, T* dgx, T*,
                       const Out<T>& d_prev, const Out<T>&, T*) {
    const Vec<T> one(T(1));
    for_lanes<T>(H, [&](int64_t j, int64_t n) {
      const Vec<T> i = at(s, 0, j, n), f = at(s, H, j, n), g = at(s, 2 * H, j, n), o = at(s, 3 * H, j, n);
      const Vec<T> tc = at(s, 4 * H, j, n), dh = at(grad[0], 0, j, n);
      const Vec<T> dc = at(grad[1], 0, j, n) + dh * o * (one - tc * tc);
      store(dc * g * i * (one - i), dgx + j, n);
      store(dc * at(prev[1], 0, j, n) * f * (one - f), dgx + H + j, n);
      store(dc * i * (one - g * g), dgx + 2 * H + j, n);
      store(dh * tc * o * (one - o), dgx + 3 * H + j, n);
      store(Vec<T>(T(0)), d_prev[0] + j, n);
      store(dc * f, d_prev[1] + j, n);
    });
  }
};

struct GRURow {
  static constexpr int gates = 3, states = 1;
  static constexpr bool separate = true;
  static int64_t saved_width(int64_t H) { return 4 * H; }

  template <typename T>
  static void forward(int64_t H, const In<T>&, T* gx, T* gh, const In<T>& prev, const Out<T>& next, T* s, T*) {
    for_lanes<T>(H, [&](int64_t j, int64_t n) {
      const Vec<T> r = sigmoid(at(gx, 0, j, n) + at(gh, 0, j, n));
      const Vec<T> z = sigmoid(at(gx, H, j, n) + at(gh, H, j, n));
      const Vec<T> a_n = at(gh, 2 * H, j, n), c = tanh(at(gx, 2 * H, j, n) + r * a_n);
      store(c + z * (at(prev[0], 0, j, n) - c), next[0] + j, n);
      store_blocks(s, H, j, n, r, z, c, a_n);
    });
  }

  template <typename T>
  static void backward(int64_t H, const In<T>&, const Out<T>& grad, const T* s, const In<T>& prev, T* dgx, T* dgh,
                       const Out<T>& d_prev, const Out<T>&, T*) {
    const Vec<T> one(T(1));
    for_lanes<T>(H, [&](int64_t j, int64_t n) {
      const Vec<T> r = at(s, 0, j, n), z = at(s, H, j, n), c = at(s, 2 * H, j, n), a_n = at(s, 3 * H, j, n);
      const Vec<T> dh = at(grad[0], 0, j, n);
      const Vec<T> dn = dh * (one - z) * (one - c * c);
      const Vec<T> dr = dn * a_n * r * (one - r), dz = dh * (at(prev[0], 0, j, n) - c) * z * (one - z);
      store(dr, dgx + j, n);
      store(dz, dgx + H + j, n);
      store(dn, dgx + 2 * H + j, n);
      store(dr, dgh + j, n);
      store(dz, dgh + H + j, n);
      store(dn * r, dgh + 2 * H + j, n);
      store(dh * z, d_prev[0] + j, n);
    });
  }
};

template <bool Relu>
struct ElmanRow {
  static constexpr int gates = 1, states = 1;
  static constexpr bool separate = false;
  static int64_t saved_width(int64_t H) { return H; }

  template <typename T>
  static void forward(int64_t H, const In<T>&, T* gx, T* gh, const In<T>&, const Out<T>& next, T* s, T*) {
    for_lanes<T>(H, [&](int64_t j, int64_t n) {
      const Vec<T> a = at(gx, 0, j, n) + at(gh, 0, j, n);
      const Vec<T> h = Relu ? relu(a) : tanh(a);
      store(h, next[0] + j, n);
      store(h, s + j, n);
    });
  }

  template <typename T>
  static void backward(int64_t H, const In<T>&, const Out<T>& grad, const T* s, const In<T>&, T* dgx, T*,
                       const Out<T>& d_prev, const Out<T>&, T*) {
    const Vec<T> one(T(1)), zero(T(0));
    for_lanes<T>(H, [&](int64_t j, int64_t n) {
      const Vec<T> h = at(s, 0, j, n), dh = at(grad[0], 0, j, n);
      const Vec<T> d = Relu ? relu_backward(dh, h) : dh * (one - h * h);
      store(d, dgx + j, n);
      store(zero, d_prev[0] + j, n);
    });
  }
};

// params: peephole (3H) = [p_i, p_f, p_o].
struct PeepholeLSTMRow {
  static constexpr int gates = 4, states = 2;
  static constexpr bool separate = false;
  static int64_t saved_width(int64_t H) { return 6 * H; }

  template <typename T>
  static void forward(int64_t H, const In<T>& p, T* gx, T* gh, const In<T>& prev, const Out<T>& next, T* s, T*) {
    for_lanes<T>(H, [&](int64_t j, int64_t n) {
      auto a = [&](int64_t g) { return at(gx, g * H, j, n) + at(gh, g * H, j, n); };
      const Vec<T> cp = at(prev[1], 0, j, n);
      const Vec<T> i = sigmoid(a(0) + at(p[0], 0, j, n) * cp), f = sigmoid(a(1) + at(p[0], H, j, n) * cp);
      const Vec<T> g = tanh(a(2)), c = f * cp + i * g;
      const Vec<T> o = sigmoid(a(3) + at(p[0], 2 * H, j, n) * c), tc = tanh(c);
      store(o * tc, next[0] + j, n);
      store(c, next[1] + j, n);
      store_blocks(s, H, j, n, i, f, g, o, c, tc);
    });
  }

  template <typename T>
  static void backward(int64_t H, const In<T>& p, const Out<T>& grad, const T* s, const In<T>& prev, T* dgx, T*,
                       const Out<T>& d_prev, const Out<T>& d_params, T*) {
    const Vec<T> one(T(1));
    T* dp = d_params[0];
    for_lanes<T>(H, [&](int64_t j, int64_t n) {
      const Vec<T> i = at(s, 0, j, n), f = at(s, H, j, n), g = at(s, 2 * H, j, n), o = at(s, 3 * H, j, n);
      const Vec<T> c = at(s, 4 * H, j, n), tc = at(s, 5 * H, j, n), cp = at(prev[1], 0, j, n);
      const Vec<T> dh = at(grad[0], 0, j, n);
      const Vec<T> d_o = dh * tc * o * (one - o);
      const Vec<T> dc = at(grad[1], 0, j, n) + dh * o * (one - tc * tc) + d_o * at(p[0], 2 * H, j, n);
      const Vec<T> d_i = dc * g * i * (one - i), d_f = dc * cp * f * (one - f);
      store(d_i, dgx + j, n);
      store(d_f, dgx + H + j, n);
      store(dc * i * (one - g * g), dgx + 2 * H + j, n);
      store(d_o, dgx + 3 * H + j, n);
      store(Vec<T>(T(0)), d_prev[0] + j, n);
      store(dc * f + d_i * at(p[0], 0, j, n) + d_f * at(p[0], H, j, n), d_prev[1] + j, n);
      store(at(dp, 0, j, n) + d_i * cp, dp + j, n);
      store(at(dp, H, j, n) + d_f * cp, dp + H + j, n);
      store(at(dp, 2 * H, j, n) + d_o * c, dp + 2 * H + j, n);
    });
  }
};

// xLSTM's sLSTM: gates i, f, z, o; states h, c, n, m.
struct SLSTMRow {
  static constexpr int gates = 4, states = 4;
  static constexpr bool separate = false;
  static int64_t saved_width(int64_t H) { return 7 * H; }

  template <typename T>
  static void forward(int64_t H, const In<T>&, T* gx, T* gh, const In<T>& prev, const Out<T>& next, T* s, T*) {
    for_lanes<T>(H, [&](int64_t j, int64_t n) {
      auto a = [&](int64_t g) { return at(gx, g * H, j, n) + at(gh, g * H, j, n); };
      const Vec<T> i_pre = a(0), f_pre = a(1), m_prev = at(prev[3], 0, j, n);
      const Vec<T> log_f = log_sigmoid(f_pre);
      const Vec<T> m = at::vec::maximum(log_f + m_prev, i_pre);
      const Vec<T> i = exp(i_pre - m), f = exp(log_f + m_prev - m);
      const Vec<T> z = tanh(a(2)), o = sigmoid(a(3));
      const Vec<T> c = f * at(prev[1], 0, j, n) + i * z, nn = f * at(prev[2], 0, j, n) + i;
      store(o * c / nn, next[0] + j, n);
      store(c, next[1] + j, n);
      store(nn, next[2] + j, n);
      store(m, next[3] + j, n);
      const Vec<T> fs = exp(log_f);  // sigmoid(f~)
      store_blocks(s, H, j, n, i, f, z, o, fs, c, nn);
    });
  }

  template <typename T>
  static void backward(int64_t H, const In<T>&, const Out<T>& grad, const T* s, const In<T>& prev, T* dgx, T*,
                       const Out<T>& d_prev, const Out<T>&, T*) {
    const Vec<T> one(T(1));
    for_lanes<T>(H, [&](int64_t j, int64_t n) {
      const Vec<T> i = at(s, 0, j, n), f = at(s, H, j, n), z = at(s, 2 * H, j, n), o = at(s, 3 * H, j, n);
      const Vec<T> fs = at(s, 4 * H, j, n), c = at(s, 5 * H, j, n), nn = at(s, 6 * H, j, n);
      const Vec<T> dh = at(grad[0], 0, j, n), ratio = c / nn, d_ratio = dh * o;
      const Vec<T> dc = at(grad[1], 0, j, n) + d_ratio / nn;
      const Vec<T> dn = at(grad[2], 0, j, n) - d_ratio * ratio / nn;
      const Vec<T> d_f_prime = dc * at(prev[1], 0, j, n) + dn * at(prev[2], 0, j, n);
      store((dc * z + dn) * i, dgx + j, n);
      store(d_f_prime * f * (one - fs), dgx + H + j, n);
      store(dc * i * (one - z * z), dgx + 2 * H + j, n);
      store(dh * ratio * o * (one - o), dgx + 3 * H + j, n);
      store(Vec<T>(T(0)), d_prev[0] + j, n);
      store(dc * f, d_prev[1] + j, n);
      store(dn * f, d_prev[2] + j, n);
      store(d_f_prime * f, d_prev[3] + j, n);
    });
  }
};

// params: g_ih, b_ih, g_hh, b_hh (4H), g_c, b_c (H), as rnnkit.cells.LayerNormLSTMCell.
// Saved: i f g o tanh(LN c) (5H), the v_hat of LN_hh (4H), of LN_c (H) and of LN_ih
// (4H), then the three rstd.
struct LayerNormLSTMRow {
  static constexpr int gates = 4, states = 2;
  static constexpr bool separate = true;
  static int64_t saved_width(int64_t H) { return 14 * H + 3; }

  template <typename T>
  static void forward(int64_t H, const In<T>& p, T* gx, T* gh, const In<T>& prev, const Out<T>& next, T* s,
                      T* work) {
    const int64_t G = 4 * H;
    T* rstd = s + 14 * H;
    rstd[2] = normalize_row(G, gx, p[0], p[1], gx, s + 10 * H);
    rstd[0] = normalize_row(G, gh, p[2], p[3], gh, s + 5 * H);
    for_lanes<T>(H, [&](int64_t j, int64_t n) {
      auto a = [&](int64_t g) { return at(gx, g * H, j, n) + at(gh, g * H, j, n); };
      const Vec<T> i = sigmoid(a(0)), f = sigmoid(a(1)), g = tanh(a(2)), o = sigmoid(a(3));
      store(f * at(prev[1], 0, j, n) + i * g, next[1] + j, n);
      store_blocks(s, H, j, n, i, f, g, o);
    });
    rstd[1] = normalize_row(H, next[1], p[4], p[5], work, s + 9 * H);
    for_lanes<T>(H, [&](int64_t j, int64_t n) {
      const Vec<T> tc = tanh(at(work, 0, j, n));
      store(tc, s + 4 * H + j, n);
      store(at(s, 3 * H, j, n) * tc, next[0] + j, n);
    });
  }

  template <typename T>
  static void backward(int64_t H, const In<T>& p, const Out<T>& grad, const T* s, const In<T>& prev, T* dgx, T* dgh,
                       const Out<T>& d_prev, const Out<T>& d_params, T* work) {
    const Vec<T> one(T(1));
    const T* rstd = s + 14 * H;
    for_lanes<T>(H, [&](int64_t j, int64_t n) {
      const Vec<T> tc = at(s, 4 * H, j, n);
      store(at(grad[0], 0, j, n) * at(s, 3 * H, j, n) * (one - tc * tc), work + j, n);
    });
    normalize_row_backward(H, work, s + 9 * H, rstd[1], p[4], work, d_params[4], d_params[5]);
    for_lanes<T>(H, [&](int64_t j, int64_t n) {
      const Vec<T> i = at(s, 0, j, n), f = at(s, H, j, n), g = at(s, 2 * H, j, n), o = at(s, 3 * H, j, n);
      const Vec<T> tc = at(s, 4 * H, j, n), dh = at(grad[0], 0, j, n);
      const Vec<T> dc = at(grad[1], 0, j, n) + at(work, 0, j, n);
      store(dc * g * i * (one - i), dgx + j, n);
      store(dc * at(prev[1], 0, j, n) * f * (one - f), dgx + H + j, n);
      store(dc * i * (one - g * g), dgx + 2 * H + j, n);
      store(dh * tc * o * (one - o), dgx + 3 * H + j, n);
      store(Vec<T>(T(0)), d_prev[0] + j, n);
      store(dc * f, d_prev[1] + j, n);
    });
    // dgx holds dL/da: through LN_hh to dL/d gates_h, then (in place) through LN_ih.
    normalize_row_backward(4 * H, dgx, s + 5 * H, rstd[0], p[2], dgh, d_params[2], d_params[3]);
    normalize_row_backward(4 * H, dgx, s + 10 * H, rstd[2], p[0], dgx, d_params[0], d_params[1]);
  }
};

// params: g_ih, b_ih, g_hh, b_hh (3H). Saved: r z n a_n (4H), the v_hat of LN_hh (3H) and
// of LN_ih (3H), the two rstd.
struct LayerNormGRURow {
  static constexpr int gates = 3, states = 1;
  static constexpr bool separate = true;
  static int64_t saved_width(int64_t H) { return 10 * H + 2; }

  template <typename T>
  static void forward(int64_t H, const In<T>& p, T* gx, T* gh, const In<T>& prev, const Out<T>& next, T* s,
                      T* work) {
    s[10 * H + 1] = normalize_row(3 * H, gx, p[0], p[1], gx, s + 7 * H);
    s[10 * H] = normalize_row(3 * H, gh, p[2], p[3], gh, s + 4 * H);
    GRURow::forward<T>(H, p, gx, gh, prev, next, s, work);
  }

  template <typename T>
  static void backward(int64_t H, const In<T>& p, const Out<T>& grad, const T* s, const In<T>& prev, T* dgx, T* dgh,
                       const Out<T>& d_prev, const Out<T>& d_params, T* work) {
    GRURow::backward<T>(H, p, grad, s, prev, dgx, dgh, d_prev, d_params, work);
    normalize_row_backward(3 * H, dgh, s + 4 * H, s[10 * H], p[2], dgh, d_params[2], d_params[3]);
    normalize_row_backward(3 * H, dgx, s + 7 * H, s[10 * H + 1], p[0], dgx, d_params[0], d_params[1]);
  }
};

}  // namespace rnnkit
