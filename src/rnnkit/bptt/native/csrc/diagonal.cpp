// Element-wise recurrences (rnnkit/bptt/diagonal.py documents the math): every unit of
// every sequence is an independent lane, so the threads split the batch rows and each
// runs its rows' steps in order, H units at a time in vector registers.
//
//   IndRNN:          h_t = act(pre_t + u * (h_{t-1} * d)), then zoneout with z_t
//   minGRU, minLSTM: h_t = a_t h_{t-1} + b_t, a_t and b_t from the input projection
//                    (rnnkit/cells/min_rnn.py), zoneout and the scan in one pass;
//                    backward G_t = dL/dh_t + a_{t+1} G_{t+1}
#include <string>

#include "common.h"

namespace rnnkit {
namespace {

// body(r) for every batch row r, rows shared between the threads.
template <typename Body>
void for_rows(int64_t B, int64_t work_per_row, const Body& body) {
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 16) / std::max<int64_t>(1, work_per_row));
  at::parallel_for(0, B, grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) body(r);
  });
}

// The recurrent-dropout mask of row r (B, H), lanes j..: 1 without one.
template <typename T>
inline Vec<T> kept(const T* mask, int64_t r, int64_t H, int64_t j, int64_t n) {
  return mask ? load(mask + r * H + j, n) : Vec<T>(T(1));
}

template <typename T>
inline Vec<T> activate(const Vec<T>& v, bool relu) {
  return relu ? rnnkit::relu(v) : tanh(v);
}

// -> (h, act, final state): act(...) before zoneout, which backward reads act' from.
std::tuple<Tensor, Tensor, Tensor> indrnn_forward(const Tensor& pre, const Tensor& u, const Tensor& h0,
                                          at::IntArrayRef batch_sizes, bool relu,
                                          const std::optional<Tensor>& zoneout, const std::optional<Tensor>& mask) {
  const Tensor p = pre.contiguous(), uc = u.contiguous(), h0c = h0.contiguous();
  check_inputs(p, batch_sizes);
  const std::optional<Tensor> z = zoneout ? std::optional<Tensor>(zoneout->contiguous()) : std::nullopt;
  const std::optional<Tensor> m = mask ? std::optional<Tensor>(mask->contiguous()) : std::nullopt;
  const int64_t steps = p.size(0), B = p.size(1), H = p.size(2);
  const bool full = all_full(batch_sizes, B);
  Tensor h = buffer(p.sizes(), p, full), act = buffer(p.sizes(), p, full), final = at::empty({B, H}, p.options());
  AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "indrnn_forward", [&] {
    using T = scalar_t;
    const Zoneout<T> e = zoneout_of<T>(z, B, H);
    const T* drop = m ? m->data_ptr<T>() : nullptr;
    const T *x = p.data_ptr<T>(), *w = uc.data_ptr<T>();
    T *out = h.data_ptr<T>(), *a_out = act.data_ptr<T>(), *last = final.data_ptr<T>();
    for_rows(B, steps * H, [&](int64_t r) {
      for_lanes<T>(H, [&](int64_t j, int64_t n) {
        Vec<T> state = load(h0c.data_ptr<T>() + r * H + j, n);
        const Vec<T> weight = load(w + j, n) * kept(drop, r, H, j, n);
        for (int64_t t = 0; t < steps && r < batch_sizes[t]; ++t) {
          const int64_t k = (t * B + r) * H + j;
          const Vec<T> a = activate(load(x + k, n) + weight * state, relu);
          store(a, a_out + k, n);
          state = e.on ? a + e.at(t, r, j, n) * (state - a) : a;
          store(state, out + k, n);
        }
        store(state, last + r * H + j, n);
      });
    });
  });
  return {h, act, final};
}

// -> (dL/d pre, dL/dh0); a row's dL/d(final state) joins at its last step.
std::tuple<Tensor, Tensor> indrnn_backward(const Tensor& grad_h, const Tensor& grad_final, const Tensor& u,
                                           const Tensor& act,
                                           at::IntArrayRef batch_sizes, bool relu,
                                           const std::optional<Tensor>& zoneout, const std::optional<Tensor>& mask) {
  const Tensor g = grad_h.contiguous(), gf = grad_final.contiguous(), uc = u.contiguous(), ac = act.contiguous();
  check_inputs(g, batch_sizes);
  const std::optional<Tensor> z = zoneout ? std::optional<Tensor>(zoneout->contiguous()) : std::nullopt;
  const std::optional<Tensor> m = mask ? std::optional<Tensor>(mask->contiguous()) : std::nullopt;
  const int64_t steps = g.size(0), B = g.size(1), H = g.size(2);
  Tensor d_pre = buffer(g.sizes(), g, all_full(batch_sizes, B)), d_h0 = at::empty({B, H}, g.options());
  AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "indrnn_backward", [&] {
    using T = scalar_t;
    const Zoneout<T> e = zoneout_of<T>(z, B, H);
    const T* drop = m ? m->data_ptr<T>() : nullptr;
    const T *gp = g.data_ptr<T>(), *w = uc.data_ptr<T>(), *a_in = ac.data_ptr<T>();
    T *out = d_pre.data_ptr<T>(), *d0 = d_h0.data_ptr<T>();
    const Vec<T> one(T(1));
    for_rows(B, steps * H, [&](int64_t r) {
      for_lanes<T>(H, [&](int64_t j, int64_t n) {
        Vec<T> carry = load(gf.data_ptr<T>() + r * H + j, n);
        const Vec<T> weight = load(w + j, n) * kept(drop, r, H, j, n);
        for (int64_t t = steps - 1; t >= 0; --t) {
          if (r >= batch_sizes[t]) continue;
          const int64_t k = (t * B + r) * H + j;
          Vec<T> dh = carry + load(gp + k, n), direct(T(0));
          if (e.on) {
            direct = e.at(t, r, j, n) * dh;
            dh = dh - direct;
          }
          const Vec<T> a = load(a_in + k, n);
          const Vec<T> d = relu ? relu_backward(dh, a) : dh * (one - a * a);
          store(d, out + k, n);
          carry = weight * d + direct;
        }
        store(carry, d0 + r * H + j, n);
      });
    });
  });
  return {d_pre, d_h0};
}

// h_t = a h_{t-1} + b of a min cell from its projection row p (blocks of H), and backward
// from dL/da, dL/db to dL/dp.
struct MinGRUGates {
  static constexpr int64_t blocks = 2;  // k (update gate), v (candidate)
  template <typename T>
  static void coefficients(const T* p, int64_t H, int64_t j, int64_t n, Vec<T>& a, Vec<T>& b) {
    const Vec<T> z = sigmoid(load(p + j, n)), candidate = g(load(p + H + j, n));
    a = Vec<T>(T(1)) - z;
    b = z * candidate;
  }
  template <typename T>
  static void backward(const T* p, int64_t H, int64_t j, int64_t n, const Vec<T>& d_a, const Vec<T>& d_b, T* d_p) {
    const Vec<T> one(T(1)), k = load(p + j, n), v = load(p + H + j, n), z = sigmoid(k);
    const Vec<T> d_z = d_b * g(v) - d_a;
    store(d_z * z * (one - z), d_p + j, n);
    store(d_b * z * g_derivative(v), d_p + H + j, n);
  }
  // Feng et al.'s g(v) = v + 1/2 (v >= 0), sigmoid(v) (v < 0), and its derivative.
  template <typename T>
  static Vec<T> g(const Vec<T>& v) {
    return Vec<T>::blendv(sigmoid(v), v + Vec<T>(T(0.5)), v >= Vec<T>(T(0)));
  }
  template <typename T>
  static Vec<T> g_derivative(const Vec<T>& v) {
    const Vec<T> one(T(1)), s = sigmoid(v);
    return Vec<T>::blendv(s * (one - s), one, v >= Vec<T>(T(0)));
  }
};

struct MinLSTMGates {
  static constexpr int64_t blocks = 3;  // k_f, k_i, v
  template <typename T>
  static void coefficients(const T* p, int64_t H, int64_t j, int64_t n, Vec<T>& a, Vec<T>& b) {
    const Vec<T> f = sigmoid(load(p + j, n)), i = sigmoid(load(p + H + j, n));
    const Vec<T> total = f + i;
    a = f / total;
    b = i / total * MinGRUGates::g(load(p + 2 * H + j, n));
  }
  template <typename T>
  static void backward(const T* p, int64_t H, int64_t j, int64_t n, const Vec<T>& d_a, const Vec<T>& d_b, T* d_p) {
    const Vec<T> one(T(1)), f = sigmoid(load(p + j, n)), i = sigmoid(load(p + H + j, n));
    const Vec<T> v = load(p + 2 * H + j, n), candidate = MinGRUGates::g(v);
    const Vec<T> total = f + i, square = total * total;
    // a = f / (f + i), b = i / (f + i) * g(v): d(f/s)/df = i/s^2, d(f/s)/di = -f/s^2.
    const Vec<T> d_share = d_b * candidate;  // dL/d(i / s)
    const Vec<T> d_f = (d_a - d_share) * i / square, d_i = (d_share - d_a) * f / square;
    store(d_f * f * (one - f), d_p + j, n);
    store(d_i * i * (one - i), d_p + H + j, n);
    store(d_b * i / total * MinGRUGates::g_derivative(v), d_p + 2 * H + j, n);
  }
};

// a' = z + (1 - z) a, b' = (1 - z) b: zoneout on the recurrence.
template <typename T>
inline void zone(const Zoneout<T>& e, int64_t t, int64_t r, int64_t j, int64_t n, Vec<T>& a, Vec<T>& b) {
  if (!e.on) return;
  const Vec<T> z = e.at(t, r, j, n), update = Vec<T>(T(1)) - z;
  a = z + update * a;
  b = update * b;
}

template <typename Gates>
std::tuple<Tensor, Tensor> min_rnn_forward_impl(const Tensor& projection, const Tensor& h0, at::IntArrayRef batch_sizes,
                            const std::optional<Tensor>& zoneout) {
  const Tensor p = projection.contiguous(), h0c = h0.contiguous();
  check_inputs(p, batch_sizes);
  const std::optional<Tensor> z = zoneout ? std::optional<Tensor>(zoneout->contiguous()) : std::nullopt;
  const int64_t steps = p.size(0), B = p.size(1), H = h0.size(1);
  Tensor h = buffer({steps, B, H}, p, all_full(batch_sizes, B)), final = at::empty({B, H}, p.options());
  AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "min_rnn_forward", [&] {
    using T = scalar_t;
    const Zoneout<T> e = zoneout_of<T>(z, B, H);
    const T* proj = p.data_ptr<T>();
    T* out = h.data_ptr<T>();
    for_rows(B, steps * H * Gates::blocks, [&](int64_t r) {
      for_lanes<T>(H, [&](int64_t j, int64_t n) {
        Vec<T> state = load(h0c.data_ptr<T>() + r * H + j, n), a, b;
        for (int64_t t = 0; t < steps && r < batch_sizes[t]; ++t) {
          Gates::coefficients(proj + (t * B + r) * Gates::blocks * H, H, j, n, a, b);
          zone(e, t, r, j, n, a, b);
          state = a * state + b;
          store(state, out + (t * B + r) * H + j, n);
        }
        store(state, final.data_ptr<T>() + r * H + j, n);
      });
    });
  });
  return {h, final};
}

// -> (dL/d projection, dL/dh0); h holds the forward's states.
template <typename Gates>
std::tuple<Tensor, Tensor> min_rnn_backward_impl(const Tensor& grad_h, const Tensor& grad_final,
                                                 const Tensor& projection, const Tensor& h0,
                                                 const Tensor& h, at::IntArrayRef batch_sizes,
                                                 const std::optional<Tensor>& zoneout) {
  const Tensor g = grad_h.contiguous(), gf = grad_final.contiguous(), p = projection.contiguous();
  const Tensor h0c = h0.contiguous(), hc = h.contiguous();
  check_inputs(g, batch_sizes);
  const std::optional<Tensor> z = zoneout ? std::optional<Tensor>(zoneout->contiguous()) : std::nullopt;
  const int64_t steps = g.size(0), B = g.size(1), H = g.size(2);
  Tensor d_p = buffer(p.sizes(), p, all_full(batch_sizes, B)), d_h0 = at::empty({B, H}, g.options());
  AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "min_rnn_backward", [&] {
    using T = scalar_t;
    const Zoneout<T> e = zoneout_of<T>(z, B, H);
    const T *gp = g.data_ptr<T>(), *proj = p.data_ptr<T>(), *states = hc.data_ptr<T>();
    T *dp = d_p.data_ptr<T>(), *d0 = d_h0.data_ptr<T>();
    const int64_t width = Gates::blocks * H;
    for_rows(B, steps * width, [&](int64_t r) {
      for_lanes<T>(H, [&](int64_t j, int64_t n) {
        Vec<T> carry = load(gf.data_ptr<T>() + r * H + j, n), a, b;
        for (int64_t t = steps - 1; t >= 0; --t) {
          if (r >= batch_sizes[t]) continue;
          const T* row = proj + (t * B + r) * width;
          const Vec<T> total = carry + load(gp + (t * B + r) * H + j, n);  // G_t
          const Vec<T> prev = t == 0 ? load(h0c.data_ptr<T>() + r * H + j, n) : load(states + ((t - 1) * B + r) * H + j, n);
          Gates::coefficients(row, H, j, n, a, b);
          Vec<T> update(T(1));
          if (e.on) {
            const Vec<T> keep = e.at(t, r, j, n);
            update = Vec<T>(T(1)) - keep;
            a = keep + update * a;
          }
          // dL/da (before zoneout) = (1 - z) G_t h_{t-1}; dL/db = (1 - z) G_t.
          Gates::backward(row, H, j, n, update * total * prev, update * total, dp + (t * B + r) * width);
          carry = a * total;
        }
        store(carry, d0 + r * H + j, n);
      });
    });
  });
  return {d_p, d_h0};
}

std::tuple<Tensor, Tensor> min_rnn_forward(const std::string& cell, const Tensor& projection, const Tensor& h0,
                       at::IntArrayRef batch_sizes, const std::optional<Tensor>& zoneout) {
  if (cell == "mingru") return min_rnn_forward_impl<MinGRUGates>(projection, h0, batch_sizes, zoneout);
  TORCH_CHECK(cell == "minlstm", "rnnkit native: no min cell '", cell, "'");
  return min_rnn_forward_impl<MinLSTMGates>(projection, h0, batch_sizes, zoneout);
}

std::tuple<Tensor, Tensor> min_rnn_backward(const std::string& cell, const Tensor& grad_h, const Tensor& grad_final,
                                            const Tensor& projection, const Tensor& h0, const Tensor& h,
                                            at::IntArrayRef batch_sizes, const std::optional<Tensor>& zoneout) {
  if (cell == "mingru") {
    return min_rnn_backward_impl<MinGRUGates>(grad_h, grad_final, projection, h0, h, batch_sizes, zoneout);
  }
  TORCH_CHECK(cell == "minlstm", "rnnkit native: no min cell '", cell, "'");
  return min_rnn_backward_impl<MinLSTMGates>(grad_h, grad_final, projection, h0, h, batch_sizes, zoneout);
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(rnnkit, m) {
  m.def(
      "min_rnn_forward(str cell, Tensor projection, Tensor h0, int[] batch_sizes, Tensor? zoneout) -> (Tensor, Tensor)",
      &min_rnn_forward);
  m.def(
      "min_rnn_backward(str cell, Tensor grad_h, Tensor grad_final, Tensor projection, Tensor h0, Tensor h, "
      "int[] batch_sizes, Tensor? zoneout) -> (Tensor, Tensor)",
      &min_rnn_backward);
  m.def(
      "indrnn_forward(Tensor pre, Tensor u, Tensor h0, int[] batch_sizes, bool relu, Tensor? zoneout, "
      "Tensor? mask) -> (Tensor, Tensor, Tensor)",
      &indrnn_forward);
  m.def(
      "indrnn_backward(Tensor grad_h, Tensor grad_final, Tensor u, Tensor act, int[] batch_sizes, bool relu, "
      "Tensor? zoneout, Tensor? mask) -> (Tensor, Tensor)",
      &indrnn_backward);
}

}  // namespace rnnkit
