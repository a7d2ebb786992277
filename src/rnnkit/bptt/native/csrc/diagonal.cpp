// Element-wise recurrences (rnnkit/bptt/diagonal.py documents the math): every unit of
// every sequence is an independent lane, so the threads split the batch rows and each
// runs its rows' steps in order, H units at a time in vector registers.
//
//   linear scan:  h_t = exp(log_a_t) h_{t-1} + exp(log_b_t);  backward G_t = g_t + a_{t+1} G_{t+1}
//   IndRNN:       h_t = act(pre_t + u * (h_{t-1} * d)), then zoneout with z_t
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

Tensor linear_scan_forward(const Tensor& log_a, const Tensor& log_b, const Tensor& h0) {
  const Tensor la = log_a.contiguous(), lb = log_b.contiguous(), h0c = h0.contiguous();
  const int64_t steps = la.size(0), B = la.size(1), H = la.size(2);
  Tensor h = at::empty_like(la);
  AT_DISPATCH_FLOATING_TYPES(la.scalar_type(), "linear_scan_forward", [&] {
    using T = scalar_t;
    const T *a = la.data_ptr<T>(), *b = lb.data_ptr<T>();
    T* out = h.data_ptr<T>();
    for_rows(B, steps * H, [&](int64_t r) {
      for_lanes<T>(H, [&](int64_t j, int64_t n) {
        Vec<T> state = load(h0c.data_ptr<T>() + r * H + j, n);
        for (int64_t t = 0; t < steps; ++t) {
          const int64_t k = (t * B + r) * H + j;
          state = load(a + k, n).exp_u20() * state + load(b + k, n).exp_u20();
          store(state, out + k, n);
        }
      });
    });
  });
  return h;
}

Tensor linear_scan_backward(const Tensor& log_a, const Tensor& grad_h) {
  const Tensor la = log_a.contiguous(), g = grad_h.contiguous();
  const int64_t steps = la.size(0), B = la.size(1), H = la.size(2);
  Tensor G = at::empty_like(g);
  AT_DISPATCH_FLOATING_TYPES(la.scalar_type(), "linear_scan_backward", [&] {
    using T = scalar_t;
    const T *a = la.data_ptr<T>(), *gp = g.data_ptr<T>();
    T* out = G.data_ptr<T>();
    for_rows(B, steps * H, [&](int64_t r) {
      for_lanes<T>(H, [&](int64_t j, int64_t n) {
        Vec<T> carry(T(0)), a_next(T(0));
        for (int64_t t = steps - 1; t >= 0; --t) {
          const int64_t k = (t * B + r) * H + j;
          carry = load(gp + k, n) + a_next * carry;
          store(carry, out + k, n);
          a_next = load(a + k, n).exp_u20();
        }
      });
    });
  });
  return G;
}

// zoneout: (T, B, H) of 0/1, a 0-d rate, or none; mask (B, H) or none.
template <typename T>
struct DiagonalExtras {
  const T* zoneout;
  T rate;
  bool zoned;
  const T* mask;
  int64_t B, H;
  Vec<T> z(int64_t t, int64_t r, int64_t j, int64_t n) const {
    return zoneout ? load(zoneout + (t * B + r) * H + j, n) : Vec<T>(rate);
  }
  Vec<T> d(int64_t r, int64_t j, int64_t n) const { return mask ? load(mask + r * H + j, n) : Vec<T>(T(1)); }
};

template <typename T>
DiagonalExtras<T> extras(const std::optional<Tensor>& zoneout, const std::optional<Tensor>& mask, int64_t B,
                         int64_t H) {
  DiagonalExtras<T> e{nullptr, T(0), false, mask ? mask->data_ptr<T>() : nullptr, B, H};
  if (zoneout) {
    e.zoned = true;
    if (zoneout->dim() == 0) {
      e.rate = zoneout->item<T>();
    } else {
      e.zoneout = zoneout->data_ptr<T>();
    }
  }
  return e;
}

template <typename T>
inline Vec<T> activate(const Vec<T>& v, bool relu) {
  return relu ? at::vec::maximum(v, Vec<T>(T(0))) : tanh(v);
}

// -> (h, act): act(...) before zoneout, which backward reads act' from.
std::tuple<Tensor, Tensor> indrnn_forward(const Tensor& pre, const Tensor& u, const Tensor& h0,
                                          at::IntArrayRef batch_sizes, bool relu,
                                          const std::optional<Tensor>& zoneout, const std::optional<Tensor>& mask) {
  const Tensor p = pre.contiguous(), uc = u.contiguous(), h0c = h0.contiguous();
  check_inputs(p, batch_sizes);
  const std::optional<Tensor> z = zoneout ? std::optional<Tensor>(zoneout->contiguous()) : std::nullopt;
  const std::optional<Tensor> m = mask ? std::optional<Tensor>(mask->contiguous()) : std::nullopt;
  const int64_t steps = p.size(0), B = p.size(1), H = p.size(2);
  Tensor h = at::zeros_like(p), act = at::zeros_like(p);
  AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "indrnn_forward", [&] {
    using T = scalar_t;
    const DiagonalExtras<T> e = extras<T>(z, m, B, H);
    const T *x = p.data_ptr<T>(), *w = uc.data_ptr<T>();
    T *out = h.data_ptr<T>(), *a_out = act.data_ptr<T>();
    for_rows(B, steps * H, [&](int64_t r) {
      for_lanes<T>(H, [&](int64_t j, int64_t n) {
        Vec<T> state = load(h0c.data_ptr<T>() + r * H + j, n);
        const Vec<T> weight = load(w + j, n) * e.d(r, j, n);
        for (int64_t t = 0; t < steps && r < batch_sizes[t]; ++t) {
          const int64_t k = (t * B + r) * H + j;
          const Vec<T> a = activate(load(x + k, n) + weight * state, relu);
          store(a, a_out + k, n);
          state = e.zoned ? a + e.z(t, r, j, n) * (state - a) : a;
          store(state, out + k, n);
        }
      });
    });
  });
  return {h, act};
}

// -> (dL/d pre, dL/dh0).
std::tuple<Tensor, Tensor> indrnn_backward(const Tensor& grad_h, const Tensor& u, const Tensor& act,
                                           at::IntArrayRef batch_sizes, bool relu,
                                           const std::optional<Tensor>& zoneout, const std::optional<Tensor>& mask) {
  const Tensor g = grad_h.contiguous(), uc = u.contiguous(), ac = act.contiguous();
  check_inputs(g, batch_sizes);
  const std::optional<Tensor> z = zoneout ? std::optional<Tensor>(zoneout->contiguous()) : std::nullopt;
  const std::optional<Tensor> m = mask ? std::optional<Tensor>(mask->contiguous()) : std::nullopt;
  const int64_t steps = g.size(0), B = g.size(1), H = g.size(2);
  Tensor d_pre = at::zeros_like(g), d_h0 = at::empty({B, H}, g.options());
  AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "indrnn_backward", [&] {
    using T = scalar_t;
    const DiagonalExtras<T> e = extras<T>(z, m, B, H);
    const T *gp = g.data_ptr<T>(), *w = uc.data_ptr<T>(), *a_in = ac.data_ptr<T>();
    T *out = d_pre.data_ptr<T>(), *d0 = d_h0.data_ptr<T>();
    const Vec<T> one(T(1)), zero(T(0));
    for_rows(B, steps * H, [&](int64_t r) {
      for_lanes<T>(H, [&](int64_t j, int64_t n) {
        Vec<T> carry(T(0));
        const Vec<T> weight = load(w + j, n) * e.d(r, j, n);
        for (int64_t t = steps - 1; t >= 0; --t) {
          if (r >= batch_sizes[t]) continue;
          const int64_t k = (t * B + r) * H + j;
          Vec<T> dh = carry + load(gp + k, n), direct(T(0));
          if (e.zoned) {
            direct = e.z(t, r, j, n) * dh;
            dh = dh - direct;
          }
          const Vec<T> a = load(a_in + k, n);
          const Vec<T> d = relu ? Vec<T>::blendv(zero, dh, a > zero) : dh * (one - a * a);
          store(d, out + k, n);
          carry = weight * d + direct;
        }
        store(carry, d0 + r * H + j, n);
      });
    });
  });
  return {d_pre, d_h0};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(rnnkit, m) {
  m.def("linear_scan_forward(Tensor log_a, Tensor log_b, Tensor h0) -> Tensor", &linear_scan_forward);
  m.def("linear_scan_backward(Tensor log_a, Tensor grad_h) -> Tensor", &linear_scan_backward);
  m.def(
      "indrnn_forward(Tensor pre, Tensor u, Tensor h0, int[] batch_sizes, bool relu, Tensor? zoneout, "
      "Tensor? mask) -> (Tensor, Tensor)",
      &indrnn_forward);
  m.def(
      "indrnn_backward(Tensor grad_h, Tensor u, Tensor act, int[] batch_sizes, bool relu, Tensor? zoneout, "
      "Tensor? mask) -> (Tensor, Tensor)",
      &indrnn_backward);
}

}  // namespace rnnkit
