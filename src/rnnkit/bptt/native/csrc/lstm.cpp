// LSTM time loops (gate order i, f, g, o), with the optional output projection.
//
// forward, per step t on the first b_t rows:
//   a = gates_x[t] + h_{t-1} @ W_hh.T + b_hh                    one GEMM
//   i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of a's blocks   one fused pass
//   c_t = f * c_{t-1} + i * g;  m_t = o * tanh(c_t);  h_t = m_t (@ W_hr.T)
// backward, per step in reverse:
//   dm = dL/dh_t (@ W_hr);  dc = dL/dc_t + dm * o * (1 - tanh(c_t)^2)
//   da = [dc g i(1-i), dc c_{t-1} f(1-f), dc i (1-g^2), dm tanh(c_t) o(1-o)]
//   dL/dc_{t-1} = dc * f;  dL/dh_{t-1} = da @ W_hh                one GEMM
#include "common.h"

namespace rnnkit {
namespace {

template <typename T>
void forward_steps(const Tensor& gates_x, const Tensor& h0, const Tensor& c0, const Linear& recurrent,
                   const std::optional<Linear>& projection, at::IntArrayRef batch_sizes, Tensor& y,
                   Tensor& c_all, Tensor& gates, Tensor& m_all, bool keep) {
  const int64_t steps = gates_x.size(0), batch = gates_x.size(1), H = c0.size(1), G = 4 * H;
  Tensor gh_scratch = at::empty({batch, G}, gates_x.options());
  Tensor act_scratch = keep ? Tensor() : at::empty({batch, G}, gates_x.options());
  Tensor m_scratch = projection && !keep ? at::empty({batch, H}, gates_x.options()) : Tensor();
  for (int64_t t = 0; t < steps; ++t) {
    const int64_t rows = batch_sizes[t];
    const Tensor h_prev = first(t == 0 ? h0 : y[t - 1], rows);
    const Tensor gh = recurrent.compute(h_prev, first(gh_scratch, rows));
    const Tensor act = keep ? gates[t] : act_scratch;
    const Tensor m = projection ? (keep ? m_all[t] : m_scratch) : y[t];
    const T* gx_p = gates_x[t].data_ptr<T>();
    const T* gh_p = gh.data_ptr<T>();
    const T* c_prev_p = (t == 0 ? c0 : c_all[t - 1]).data_ptr<T>();
    T* act_p = act.data_ptr<T>();
    T* c_p = c_all[t].data_ptr<T>();
    T* m_p = m.data_ptr<T>();
    for_rows(rows, G, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        const T* gx = gx_p + b * G;
        const T* ghr = gh_p + b * G;
        T* a = act_p + b * G;
        for_lanes<T>(H, [&](int64_t j, int64_t n) {
          const Vec<T> i = sigmoid(load(gx + j, n) + load(ghr + j, n));
          const Vec<T> f = sigmoid(load(gx + H + j, n) + load(ghr + H + j, n));
          const Vec<T> g = tanh(load(gx + 2 * H + j, n) + load(ghr + 2 * H + j, n));
          const Vec<T> o = sigmoid(load(gx + 3 * H + j, n) + load(ghr + 3 * H + j, n));
          const Vec<T> c = f * load(c_prev_p + b * H + j, n) + i * g;
          store(i, a + j, n);
          store(f, a + H + j, n);
          store(g, a + 2 * H + j, n);
          store(o, a + 3 * H + j, n);
          store(c, c_p + b * H + j, n);
          store(o * tanh(c), m_p + b * H + j, n);
        });
      }
    });
    if (projection) projection->into(first(m, rows), first(y[t], rows));
  }
}

template <typename T>
void backward_steps(const Tensor& grad_y, const Tensor& c0, const Tensor& c_all, const Tensor& gates,
                    const Linear& recurrent_t, const std::optional<Linear>& projection_t,
                    at::IntArrayRef batch_sizes, Tensor& carry_h, Tensor& carry_c, Tensor& d_gates,
                    Tensor& d_h_all) {
  const int64_t steps = grad_y.size(0), batch = grad_y.size(1), P = grad_y.size(2);
  const int64_t H = c0.size(1), G = 4 * H;
  const bool keep_dh = d_h_all.numel() > 0;
  Tensor dm_scratch = at::empty({batch, H}, grad_y.options());
  for (int64_t t = steps - 1; t >= 0; --t) {
    const int64_t rows = batch_sizes[t];
    // dm = dL/dh_t, through the projection if there is one.
    Tensor dm;
    if (keep_dh) {
      Tensor d_h = first(d_h_all[t], rows);
      at::add_out(d_h, first(carry_h, rows), first(grad_y[t], rows));
      dm = projection_t ? projection_t->compute(d_h, first(dm_scratch, rows)) : d_h;
    }
    const T* dm_p = keep_dh ? dm.data_ptr<T>() : nullptr;
    const T* carry_h_p = carry_h.data_ptr<T>();
    const T* gy_p = grad_y[t].data_ptr<T>();
    const T* act_p = gates[t].data_ptr<T>();
    const T* c_p = c_all[t].data_ptr<T>();
    const T* c_prev_p = (t == 0 ? c0 : c_all[t - 1]).data_ptr<T>();
    T* carry_c_p = carry_c.data_ptr<T>();
    T* da_p = d_gates[t].data_ptr<T>();
    for_rows(rows, G, [&](int64_t begin, int64_t end) {
      const Vec<T> one(T(1));
      for (int64_t b = begin; b < end; ++b) {
        const T* a = act_p + b * G;
        T* da = da_p + b * G;
        for_lanes<T>(H, [&](int64_t j, int64_t n) {
          const int64_t k = b * H + j;
          const Vec<T> dmv = dm_p ? load(dm_p + k, n) : load(carry_h_p + b * P + j, n) + load(gy_p + b * P + j, n);
          const Vec<T> i = load(a + j, n), f = load(a + H + j, n);
          const Vec<T> g = load(a + 2 * H + j, n), o = load(a + 3 * H + j, n);
          const Vec<T> tc = tanh(load(c_p + k, n));
          const Vec<T> dc = load(carry_c_p + k, n) + dmv * o * (one - tc * tc);
          store(dc * g * i * (one - i), da + j, n);
          store(dc * load(c_prev_p + k, n) * f * (one - f), da + H + j, n);
          store(dc * i * (one - g * g), da + 2 * H + j, n);
          store(dmv * tc * o * (one - o), da + 3 * H + j, n);
          store(dc * f, carry_c_p + k, n);
        });
      }
    });
    recurrent_t.into(first(d_gates[t], rows), first(carry_h, rows));
  }
}

std::tuple<Tensor, Tensor, Tensor, Tensor> lstm_forward(const Tensor& gates_x, const Tensor& h0,
                                                        const Tensor& c0, const Tensor& w_hh,
                                                        const std::optional<Tensor>& b_hh,
                                                        const std::optional<Tensor>& w_hr,
                                                        at::IntArrayRef batch_sizes, bool keep,
                                                        bool onednn) {
  check_inputs(gates_x, batch_sizes);
  const int64_t steps = gates_x.size(0), batch = gates_x.size(1), H = c0.size(1), P = h0.size(1);
  const bool full = all_full(batch_sizes, batch);
  Tensor y = buffer({steps, batch, P}, gates_x, full);
  Tensor c_all = buffer({steps, batch, H}, gates_x, full);
  Tensor gates = keep ? buffer({steps, batch, 4 * H}, gates_x, full) : at::empty({0}, gates_x.options());
  Tensor m_all = keep && w_hr ? buffer({steps, batch, H}, gates_x, full) : at::empty({0}, gates_x.options());
  const Linear recurrent(w_hh, b_hh, onednn);
  const std::optional<Linear> projection = w_hr ? std::optional<Linear>(Linear(*w_hr, std::nullopt, onednn)) : std::nullopt;
  AT_DISPATCH_FLOATING_TYPES(gates_x.scalar_type(), "lstm_forward", [&] {
    forward_steps<scalar_t>(gates_x, h0.contiguous(), c0.contiguous(), recurrent, projection, batch_sizes, y, c_all,
                            gates, m_all, keep);
  });
  return {y, c_all, gates, m_all};
}

std::tuple<Tensor, Tensor, Tensor, Tensor> lstm_backward(const Tensor& grad_y, const Tensor& grad_h,
                                                         const Tensor& grad_c, const Tensor& c0,
                                                         const Tensor& c_all, const Tensor& gates,
                                                         const Tensor& w_hh, const std::optional<Tensor>& w_hr,
                                                         at::IntArrayRef batch_sizes, bool keep_dh,
                                                         bool onednn) {
  check_inputs(grad_y, batch_sizes);
  const int64_t steps = grad_y.size(0), batch = grad_y.size(1), H = c0.size(1);
  const bool full = all_full(batch_sizes, batch);
  TORCH_CHECK(keep_dh || !w_hr, "rnnkit native: the projection's gradient needs dL/dh of every step");
  Tensor carry_h = grad_h.contiguous().clone(), carry_c = grad_c.contiguous().clone();
  Tensor d_gates = buffer({steps, batch, 4 * H}, grad_y, full);
  Tensor d_h_all = keep_dh ? buffer({steps, batch, grad_y.size(2)}, grad_y, full) : at::empty({0}, grad_y.options());
  const Linear recurrent_t(w_hh.t(), std::nullopt, onednn);
  const std::optional<Linear> projection_t = w_hr ? std::optional<Linear>(Linear(w_hr->t(), std::nullopt, onednn)) : std::nullopt;
  AT_DISPATCH_FLOATING_TYPES(grad_y.scalar_type(), "lstm_backward", [&] {
    backward_steps<scalar_t>(grad_y, c0.contiguous(), c_all, gates, recurrent_t, projection_t, batch_sizes, carry_h,
                             carry_c, d_gates, d_h_all);
  });
  return {d_gates, d_h_all, carry_h, carry_c};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(rnnkit, m) {
  m.def(
      "lstm_forward(Tensor gates_x, Tensor h0, Tensor c0, Tensor w_hh, Tensor? b_hh, Tensor? w_hr, "
      "int[] batch_sizes, bool keep, bool onednn) -> (Tensor, Tensor, Tensor, Tensor)",
      &lstm_forward);
  m.def(
      "lstm_backward(Tensor grad_y, Tensor grad_h, Tensor grad_c, Tensor c0, Tensor c_all, Tensor gates, "
      "Tensor w_hh, Tensor? w_hr, int[] batch_sizes, bool keep_dh, bool onednn) "
      "-> (Tensor, Tensor, Tensor, Tensor)",
      &lstm_backward);
}

}  // namespace rnnkit
