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
//   dL/dx_t = da @ W_ih                                          (when x needs it)
// Both loops run on a team of threads (team.h), each thread on a share of the hidden units.
#include "common.h"

namespace rnnkit {
namespace {

// One row of one step for n units: a = x (+ bias), activations into `act` (may be null),
// c_t, m_t. Gate g of unit j is x[g * n + j] and bias[g * n + j]; act[g * act_stride + j].
// c may be c_prev: each lane is read before it is written.
template <typename T>
inline void forward_row(int64_t n, const T* x, const T* bias, const T* c_prev, T* act, int64_t act_stride, T* c,
                        T* m) {
  for_lanes<T>(n, [&](int64_t j, int64_t lanes) {
    auto pre = [&](int64_t gate) {
      const int64_t k = gate * n + j;
      return load(x + k, lanes) + load_or_zero(bias ? bias + k : nullptr, lanes);
    };
    const Vec<T> i = sigmoid(pre(0)), f = sigmoid(pre(1)), g = tanh(pre(2)), o = sigmoid(pre(3));
    const Vec<T> c_t = f * load(c_prev + j, lanes) + i * g;
    if (act) {
      store(i, act + j, lanes);
      store(f, act + act_stride + j, lanes);
      store(g, act + 2 * act_stride + j, lanes);
      store(o, act + 3 * act_stride + j, lanes);
    }
    store(c_t, c + j, lanes);
    store(o * tanh(c_t), m + j, lanes);
  });
}

struct Shape {
  int64_t steps, batch, inputs, H, P;
  int64_t G() const { return 4 * H; }
};

// The forward loop on a team (team.h), split by batch rows or by hidden units: each thread
// packs its units' columns of W_ih and W_hh once, and per step computes its rows' gates for
// them (the input projection, with the recurrent product added on top) and their pointwise
// part. Split by units, the team meets once per step, twice with the projection (h_t =
// m_t @ W_hr.T needs all of m_t).
template <typename T>
void forward_steps(const Shape& s, const T* x, const T* w_ih, const T* w_hh, const T* bias, const T* w_hr,
                   const T* h0, const T* c0, at::IntArrayRef batch_sizes, T* y, T* c_all, T* gates, T* m_all) {
  const int64_t H = s.H, G = s.G(), B = s.batch, P = s.P;
  std::vector<T> m_scratch(w_hr && !m_all ? B * H : 0);
  run_team(team_size(B * G * (P + s.inputs)), [&](int64_t rank, int64_t threads) {
    const Split split = split_of(B, H, G * (s.inputs + P), Vec<T>::size(), rank, threads);
    const Share units = split.units, columns = split.columns(P, Vec<T>::size());
    const int64_t n = 4 * units.size();
    InputShare<T> input(x, s.steps, B, s.inputs, w_ih, H, 4, split);
    const PackedB<T> wh = pack_units(w_hh, P, H, 4, units);
    const std::vector<T> b = pack_units(bias, H, 4, units);
    // h_t's columns of m_t @ W_hr.T: W_hr's rows, transposed.
    const std::optional<PackedB<T>> wr =
        w_hr ? std::optional(pack_units(w_hr, H, P, 1, columns)) : std::nullopt;
    for (int64_t t = 0; t < s.steps; ++t) {
      const Share mine = split.running(batch_sizes[t]);
      const T* h_prev = t == 0 ? h0 : y + (t - 1) * B * P;
      const T* c_prev = t == 0 ? c0 : c_all + (t - 1) * B * H;
      T* a = input.step(t);  // row mine.begin first
      T* m = w_hr ? (m_all ? m_all + t * B * H : m_scratch.data()) : y + t * B * H;
      product(mine.size(), h_prev + mine.begin * P, P, wh, a, n, /*accumulate=*/true);
      for (int64_t r = mine.begin; r < mine.end; ++r) {
        const int64_t k = r * H + units.begin;
        forward_row<T>(units.size(), a + (r - mine.begin) * n, b.empty() ? nullptr : b.data(), c_prev + k,
                       gates ? gates + (t * B + r) * G + units.begin : nullptr, H, c_all + t * B * H + k, m + k);
      }
      if (wr) {
        split.barrier();
        T* h = y + (t * B + mine.begin) * P + columns.begin;
        product(mine.size(), m + mine.begin * H, H, *wr, h, P, /*accumulate=*/false);
      }
      split.barrier();
    }
    release_product();
  });
}

// The backward loop on a team, split as the forward one. Split by units, each thread owns
// a share of the hidden units for the pointwise part and a share of h's columns (the same,
// without the projection) for dL/dh_{t-1} = da @ W_hh, which needs every unit's da: one
// barrier per step, two with the projection (dm = dL/dh_t @ W_hr needs all of dL/dh_t).
template <typename T>
void backward_steps(const Shape& s, const T* grad_y, const T* c0, const T* c_all, const T* gates, const T* w_ih,
                    const T* w_hh, const T* w_hr, at::IntArrayRef batch_sizes, T* carry_h, T* carry_c, T* d_gates,
                    T* d_h_all, T* d_x) {
  const int64_t H = s.H, G = s.G(), B = s.batch, P = s.P;
  std::vector<T> dm_scratch(w_hr ? B * H : 0);
  run_team(team_size(B * G * P), [&](int64_t rank, int64_t threads) {
    const Split split = split_of(B, H, G * (s.inputs + P), Vec<T>::size(), rank, threads);
    const Share units = split.units;
    const Share columns = w_hr ? split.columns(P, Vec<T>::size()) : units;
    const PackedB<T> wh = pack_columns(w_hh, G, P, columns);
    InputGradientShare<T> input(w_ih, G, s.inputs, s.steps, B, d_gates, d_x, split);
    // dm's units of dL/dh_t @ W_hr.
    const std::optional<PackedB<T>> wr = w_hr ? std::optional(pack_columns(w_hr, P, H, units)) : std::nullopt;
    const Vec<T> one(T(1));
    for (int64_t t = s.steps - 1; t >= 0; --t) {
      const Share mine = split.running(batch_sizes[t]);
      const T* gy = grad_y + t * B * P;
      // dm = dL/dh_t (through the projection if there is one), kept where asked.
      const T* dm = nullptr;
      if (d_h_all) {
        T* d_h = d_h_all + t * B * P;
        for (int64_t r = mine.begin; r < mine.end; ++r) {
          for_lanes<T>(columns.size(), [&](int64_t j, int64_t lanes) {
            const int64_t k = r * P + columns.begin + j;
            store(load(carry_h + k, lanes) + load(gy + k, lanes), d_h + k, lanes);
          });
        }
        dm = d_h;
        if (wr) {
          split.barrier();
          T* dm_rows = dm_scratch.data() + mine.begin * H + units.begin;
          product(mine.size(), d_h + mine.begin * P, P, *wr, dm_rows, H, /*accumulate=*/false);
          dm = dm_scratch.data();
        }
      }
      const T* c = c_all + t * B * H;
      const T* c_prev = t == 0 ? c0 : c_all + (t - 1) * B * H;
      T* da = d_gates + t * B * G;
      for (int64_t r = mine.begin; r < mine.end; ++r) {
        const T* a = gates + (t * B + r) * G + units.begin;
        T* d = da + r * G + units.begin;
        for_lanes<T>(units.size(), [&](int64_t j, int64_t lanes) {
          const int64_t k = r * H + units.begin + j;
          const Vec<T> dmv = dm ? load(dm + k, lanes) : load(carry_h + k, lanes) + load(gy + k, lanes);
          const Vec<T> i = load(a + j, lanes), f = load(a + H + j, lanes);
          const Vec<T> g = load(a + 2 * H + j, lanes), o = load(a + 3 * H + j, lanes);
          const Vec<T> tc = tanh(load(c + k, lanes));
          const Vec<T> dc = load(carry_c + k, lanes) + dmv * o * (one - tc * tc);
          store(dc * g * i * (one - i), d + j, lanes);
          store(dc * load(c_prev + k, lanes) * f * (one - f), d + H + j, lanes);
          store(dc * i * (one - g * g), d + 2 * H + j, lanes);
          store(dmv * tc * o * (one - o), d + 3 * H + j, lanes);
          store(dc * f, carry_c + k, lanes);
        });
      }
      split.barrier();
      T* carry_rows = carry_h + mine.begin * P + columns.begin;
      product(mine.size(), da + mine.begin * G, G, wh, carry_rows, P, /*accumulate=*/false);
      input.step(t);
    }
    release_product();
  });
}

// x (T, B, I); bias = b_ih + b_hh (or none).
std::tuple<Tensor, Tensor, Tensor, Tensor> lstm_forward(const Tensor& x, const Tensor& w_ih, const Tensor& h0,
                                                        const Tensor& c0, const Tensor& w_hh,
                                                        const std::optional<Tensor>& bias,
                                                        const std::optional<Tensor>& w_hr,
                                                        at::IntArrayRef batch_sizes, bool keep) {
  check_inputs(x, batch_sizes);
  const Shape s{x.size(0), x.size(1), x.size(2), c0.size(1), h0.size(1)};
  const bool full = all_full(batch_sizes, s.batch);
  const Tensor h0c = h0.contiguous(), c0c = c0.contiguous(), w_ihc = w_ih.contiguous(), w_hhc = w_hh.contiguous();
  const std::optional<Tensor> b = bias ? std::optional<Tensor>(bias->contiguous()) : std::nullopt;
  const std::optional<Tensor> w_hrc = w_hr ? std::optional<Tensor>(w_hr->contiguous()) : std::nullopt;
  const Tensor none = at::empty({0}, x.options());
  Tensor y = buffer({s.steps, s.batch, s.P}, x, full);
  Tensor c_all = buffer({s.steps, s.batch, s.H}, x, full);
  Tensor gates = keep ? buffer({s.steps, s.batch, s.G()}, x, full) : none;
  Tensor m_all = keep && w_hr ? buffer({s.steps, s.batch, s.H}, x, full) : none;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstm_forward", [&] {
    using T = scalar_t;
    forward_steps<T>(s, x.data_ptr<T>(), w_ihc.data_ptr<T>(), w_hhc.data_ptr<T>(), maybe<T>(b), maybe<T>(w_hrc),
                     h0c.data_ptr<T>(), c0c.data_ptr<T>(), batch_sizes, y.data_ptr<T>(), c_all.data_ptr<T>(),
                     keep ? gates.data_ptr<T>() : nullptr, m_all.numel() ? m_all.data_ptr<T>() : nullptr);
  });
  return {y, c_all, gates, m_all};
}

// -> (dL/d gates, dL/dh of every step (if keep_dh), dL/dh0, dL/dc0, dL/dx (if w_ih is given)).
std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor> lstm_backward(
    const Tensor& grad_y, const Tensor& grad_h, const Tensor& grad_c, const Tensor& c0, const Tensor& c_all,
    const Tensor& gates, const std::optional<Tensor>& w_ih, const Tensor& w_hh, const std::optional<Tensor>& w_hr,
    at::IntArrayRef batch_sizes, bool keep_dh) {
  check_inputs(grad_y, batch_sizes);
  TORCH_CHECK(keep_dh || !w_hr, "rnnkit native: the projection's gradient needs dL/dh of every step");
  const Shape s{grad_y.size(0), grad_y.size(1), w_ih ? w_ih->size(1) : 0, c0.size(1), grad_y.size(2)};
  const bool full = all_full(batch_sizes, s.batch);
  const Tensor c0c = c0.contiguous(), w_hhc = w_hh.contiguous();
  const std::optional<Tensor> w_hrc = w_hr ? std::optional<Tensor>(w_hr->contiguous()) : std::nullopt;
  const std::optional<Tensor> w_ihc = w_ih ? std::optional<Tensor>(w_ih->contiguous()) : std::nullopt;
  Tensor d_x = w_ih ? buffer({s.steps, s.batch, s.inputs}, grad_y, full) : at::empty({0}, grad_y.options());
  Tensor carry_h = grad_h.contiguous().clone(), carry_c = grad_c.contiguous().clone();
  Tensor d_gates = buffer({s.steps, s.batch, s.G()}, grad_y, full);
  Tensor d_h_all = keep_dh ? buffer({s.steps, s.batch, s.P}, grad_y, full) : at::empty({0}, grad_y.options());
  AT_DISPATCH_FLOATING_TYPES(grad_y.scalar_type(), "lstm_backward", [&] {
    using T = scalar_t;
    backward_steps<T>(s, grad_y.data_ptr<T>(), c0c.data_ptr<T>(), c_all.data_ptr<T>(), gates.data_ptr<T>(),
                      maybe<T>(w_ihc), w_hhc.data_ptr<T>(), maybe<T>(w_hrc), batch_sizes, carry_h.data_ptr<T>(),
                      carry_c.data_ptr<T>(), d_gates.data_ptr<T>(), keep_dh ? d_h_all.data_ptr<T>() : nullptr,
                      w_ih ? d_x.data_ptr<T>() : nullptr);
  });
  return {d_gates, d_h_all, carry_h, carry_c, d_x};
}

Tensor lstm_prepare_step(const Tensor& w_ih, const Tensor& w_hh, const std::optional<Tensor>& b_ih,
                                      const std::optional<Tensor>& b_hh) {
  return prepare_step(w_ih, w_hh, b_ih, b_hh, /*gates=*/4, /*sum_biases=*/true);
}

// One step for streaming, state updated in place: a = x @ W_ih.T + h @ W_hh.T + bias, in
// the parts of `prepare_step`; then the projection, if any (w_hr_t = W_hr.T contiguous).
Tensor lstm_step(const Tensor& x, const Tensor& prepared, const std::optional<Tensor>& w_hr_t, Tensor& h, Tensor& c) {
  check_step(x, h);
  const int64_t H = c.size(1);
  Tensor y = at::empty_like(h);  // the parts write y while the others still read h
  Tensor m = w_hr_t ? at::empty({x.size(0), H}, x.options()) : y;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstm_step", [&] {
    using T = scalar_t;
    T* c_p = c.data_ptr<T>();
    T* m_p = m.data_ptr<T>();
    step_parts<T>(prepared, H, 4, x, h, /*separate=*/false,
                  [&](int64_t b, int64_t u0, int64_t Hp, const T* a, const T*, const T* bias, const T*) {
                    T* c_row = c_p + b * H + u0;
                    forward_row<T>(Hp, a, bias, c_row, nullptr, 0, c_row, m_p + b * H + u0);
                  });
    if (w_hr_t) {
      const int64_t P = y.size(1);
      gemm_rows<T>(x.size(0), P, H, m_p, H, w_hr_t->data_ptr<T>(), P, y.data_ptr<T>(), P, /*accumulate=*/false);
    }
  });
  h.copy_(y);
  return y;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(rnnkit, m) {
  m.def(
      "lstm_forward(Tensor x, Tensor w_ih, Tensor h0, Tensor c0, Tensor w_hh, Tensor? bias, Tensor? w_hr, "
      "int[] batch_sizes, bool keep) -> (Tensor, Tensor, Tensor, Tensor)",
      &lstm_forward);
  m.def(
      "lstm_backward(Tensor grad_y, Tensor grad_h, Tensor grad_c, Tensor c0, Tensor c_all, Tensor gates, "
      "Tensor? w_ih, Tensor w_hh, Tensor? w_hr, int[] batch_sizes, bool keep_dh) "
      "-> (Tensor, Tensor, Tensor, Tensor, Tensor)",
      &lstm_backward);
  m.def("lstm_prepare_step(Tensor w_ih, Tensor w_hh, Tensor? b_ih, Tensor? b_hh) -> Tensor");
  m.def("lstm_step(Tensor x, Tensor prepared, Tensor? w_hr_t, Tensor(a!) h, Tensor(b!) c) -> Tensor");
}

// See step.h: a CPU kernel, so that its fake kernel is used when tracing.
TORCH_LIBRARY_IMPL(rnnkit, CPU, m) {
  m.impl("lstm_prepare_step", &lstm_prepare_step);
  m.impl("lstm_step", &lstm_step);
}

}  // namespace rnnkit
