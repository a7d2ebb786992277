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

// One row of one step: a = x (+ r) (+ bias), activations into `act` (may be null), c_t, m_t.
// c may be c_prev: each lane is read before it is written.
template <typename T>
inline void forward_row(int64_t H, const T* x, const T* r, const T* bias, const T* c_prev, T* act, T* c, T* m) {
  for_lanes<T>(H, [&](int64_t j, int64_t n) {
    auto pre = [&](int64_t gate) {
      const int64_t k = gate * H + j;
      return load(x + k, n) + load_or_zero(r ? r + k : nullptr, n) + load_or_zero(bias ? bias + k : nullptr, n);
    };
    const Vec<T> i = sigmoid(pre(0)), f = sigmoid(pre(1)), g = tanh(pre(2)), o = sigmoid(pre(3));
    const Vec<T> c_t = f * load(c_prev + j, n) + i * g;
    if (act) {
      store(i, act + j, n);
      store(f, act + H + j, n);
      store(g, act + 2 * H + j, n);
      store(o, act + 3 * H + j, n);
    }
    store(c_t, c + j, n);
    store(o * tanh(c_t), m + j, n);
  });
}

struct Shape {
  int64_t steps, batch, H, P;
  int64_t G() const { return 4 * H; }
};

template <typename T>
void forward_steps(const Shape& s, InputChunks<T>& gates_x, const T* h0, const T* c0, const T* bias,
                   const Gemm<T>& recurrent, const Gemm<T>* projection, at::IntArrayRef batch_sizes,
                   T* y, T* c_all, T* gates, T* m_all) {
  const int64_t H = s.H, G = s.G(), B = s.batch;
  std::vector<T> gh(B * G), m_scratch(projection && !m_all ? B * H : 0);
  for (int64_t t = 0; t < s.steps; ++t) {
    const int64_t rows = batch_sizes[t];
    const T* h_prev = t == 0 ? h0 : y + (t - 1) * B * s.P;
    const T* c_prev = t == 0 ? c0 : c_all + (t - 1) * B * H;
    const T* gx = gates_x.step(t);
    T* act = gates ? gates + t * B * G : nullptr;
    T* c = c_all + t * B * H;
    T* m = projection ? (m_all ? m_all + t * B * H : m_scratch.data()) : y + t * B * H;
    recurrent(h_prev, rows, gh.data(), /*accumulate=*/false);
    for_rows(rows, G, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        forward_row<T>(H, gx + b * G, gh.data() + b * G, bias, c_prev + b * H, act ? act + b * G : nullptr,
                       c + b * H, m + b * H);
      }
    });
    if (projection) (*projection)(m, rows, y + t * B * s.P, /*accumulate=*/false);
  }
}

template <typename T>
void backward_steps(const Shape& s, const T* grad_y, const T* c0, const T* c_all, const T* gates,
                    const Gemm<T>& recurrent_t, const Gemm<T>* projection_t, at::IntArrayRef batch_sizes,
                    T* carry_h, T* carry_c, T* d_gates, T* d_h_all) {
  const int64_t H = s.H, G = s.G(), B = s.batch, P = s.P;
  std::vector<T> dm_scratch(projection_t ? B * H : 0);
  for (int64_t t = s.steps - 1; t >= 0; --t) {
    const int64_t rows = batch_sizes[t];
    const T* gy = grad_y + t * B * P;
    // dm = dL/dh_t (through the projection if there is one), kept where asked.
    const T* dm = nullptr;
    if (d_h_all) {
      T* d_h = d_h_all + t * B * P;
      for_rows(rows, P, [&](int64_t begin, int64_t end) {
        for_lanes<T>((end - begin) * P, [&](int64_t j, int64_t n) {
          const int64_t k = begin * P + j;
          store(load(carry_h + k, n) + load(gy + k, n), d_h + k, n);
        });
      });
      dm = d_h;
      if (projection_t) {
        (*projection_t)(d_h, rows, dm_scratch.data(), /*accumulate=*/false);
        dm = dm_scratch.data();
      }
    }
    const T* act = gates + t * B * G;
    const T* c = c_all + t * B * H;
    const T* c_prev = t == 0 ? c0 : c_all + (t - 1) * B * H;
    T* da = d_gates + t * B * G;
    for_rows(rows, G, [&](int64_t begin, int64_t end) {
      const Vec<T> one(T(1));
      for (int64_t b = begin; b < end; ++b) {
        const T* a = act + b * G;
        T* d = da + b * G;
        for_lanes<T>(H, [&](int64_t j, int64_t n) {
          const int64_t k = b * H + j;
          const Vec<T> dmv = dm ? load(dm + k, n) : load(carry_h + k, n) + load(gy + k, n);
          const Vec<T> i = load(a + j, n), f = load(a + H + j, n);
          const Vec<T> g = load(a + 2 * H + j, n), o = load(a + 3 * H + j, n);
          const Vec<T> tc = tanh(load(c + k, n));
          const Vec<T> dc = load(carry_c + k, n) + dmv * o * (one - tc * tc);
          store(dc * g * i * (one - i), d + j, n);
          store(dc * load(c_prev + k, n) * f * (one - f), d + H + j, n);
          store(dc * i * (one - g * g), d + 2 * H + j, n);
          store(dmv * tc * o * (one - o), d + 3 * H + j, n);
          store(dc * f, carry_c + k, n);
        });
      }
    });
    recurrent_t(da, rows, carry_h, /*accumulate=*/false);
  }
}

// x (T, B, I); bias = b_ih + b_hh (or none).
std::tuple<Tensor, Tensor, Tensor, Tensor> lstm_forward(const Tensor& x, const Tensor& w_ih, const Tensor& h0,
                                                        const Tensor& c0, const Tensor& w_hh,
                                                        const std::optional<Tensor>& bias,
                                                        const std::optional<Tensor>& w_hr,
                                                        at::IntArrayRef batch_sizes, bool keep, bool onednn) {
  check_inputs(x, batch_sizes);
  const Shape s{x.size(0), x.size(1), c0.size(1), h0.size(1)};
  const bool full = all_full(batch_sizes, s.batch);
  const Tensor h0c = h0.contiguous(), c0c = c0.contiguous();
  const std::optional<Tensor> b = bias ? std::optional<Tensor>(bias->contiguous()) : std::nullopt;
  const Tensor none = at::empty({0}, x.options());
  Tensor y = buffer({s.steps, s.batch, s.P}, x, full);
  Tensor c_all = buffer({s.steps, s.batch, s.H}, x, full);
  Tensor gates = keep ? buffer({s.steps, s.batch, s.G()}, x, full) : none;
  Tensor m_all = keep && w_hr ? buffer({s.steps, s.batch, s.H}, x, full) : none;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstm_forward", [&] {
    using T = scalar_t;
    InputChunks<T> gates_x(x, w_ih, onednn);
    const Gemm<T> recurrent(w_hh, onednn);
    std::optional<Gemm<T>> projection;
    if (w_hr) projection.emplace(*w_hr, onednn);
    forward_steps<T>(s, gates_x, h0c.data_ptr<T>(), c0c.data_ptr<T>(), maybe<T>(b), recurrent,
                     projection ? &*projection : nullptr, batch_sizes, y.data_ptr<T>(), c_all.data_ptr<T>(),
                     keep ? gates.data_ptr<T>() : nullptr, m_all.numel() ? m_all.data_ptr<T>() : nullptr);
  });
  return {y, c_all, gates, m_all};
}

std::tuple<Tensor, Tensor, Tensor, Tensor> lstm_backward(const Tensor& grad_y, const Tensor& grad_h,
                                                         const Tensor& grad_c, const Tensor& c0, const Tensor& c_all,
                                                         const Tensor& gates, const Tensor& w_hh,
                                                         const std::optional<Tensor>& w_hr,
                                                         at::IntArrayRef batch_sizes, bool keep_dh, bool onednn) {
  check_inputs(grad_y, batch_sizes);
  TORCH_CHECK(keep_dh || !w_hr, "rnnkit native: the projection's gradient needs dL/dh of every step");
  const Shape s{grad_y.size(0), grad_y.size(1), c0.size(1), grad_y.size(2)};
  const bool full = all_full(batch_sizes, s.batch);
  const Tensor c0c = c0.contiguous();
  Tensor carry_h = grad_h.contiguous().clone(), carry_c = grad_c.contiguous().clone();
  Tensor d_gates = buffer({s.steps, s.batch, s.G()}, grad_y, full);
  Tensor d_h_all = keep_dh ? buffer({s.steps, s.batch, s.P}, grad_y, full) : at::empty({0}, grad_y.options());
  AT_DISPATCH_FLOATING_TYPES(grad_y.scalar_type(), "lstm_backward", [&] {
    using T = scalar_t;
    const Gemm<T> recurrent_t(w_hh.t(), onednn);
    std::optional<Gemm<T>> projection_t;
    if (w_hr) projection_t.emplace(w_hr->t(), onednn);
    backward_steps<T>(s, grad_y.data_ptr<T>(), c0c.data_ptr<T>(), c_all.data_ptr<T>(), gates.data_ptr<T>(),
                      recurrent_t, projection_t ? &*projection_t : nullptr, batch_sizes, carry_h.data_ptr<T>(),
                      carry_c.data_ptr<T>(), d_gates.data_ptr<T>(), keep_dh ? d_h_all.data_ptr<T>() : nullptr);
  });
  return {d_gates, d_h_all, carry_h, carry_c};
}

std::vector<Tensor> lstm_prepare_step(const Tensor& w_ih, const Tensor& w_hh, const std::optional<Tensor>& b_ih,
                                      const std::optional<Tensor>& b_hh) {
  return prepare_step(w_ih, w_hh, b_ih, b_hh, /*gates=*/4, /*sum_biases=*/true);
}

// One step for streaming, state updated in place: a = x @ W_ih.T + h @ W_hh.T + bias, in
// the parts of `prepare_step`; then the projection, if any (w_hr_t = W_hr.T contiguous).
Tensor lstm_step(const Tensor& x, at::TensorList blocks, const std::optional<Tensor>& w_hr_t, Tensor& h, Tensor& c) {
  check_step(x, h);
  const int64_t H = c.size(1);
  Tensor y = at::empty_like(h);  // the parts write y while the others still read h
  Tensor m = w_hr_t ? at::empty({x.size(0), H}, x.options()) : y;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstm_step", [&] {
    using T = scalar_t;
    T* c_p = c.data_ptr<T>();
    T* m_p = m.data_ptr<T>();
    step_parts<T>(blocks, H, 4, x, h, /*separate=*/false,
                  [&](int64_t b, int64_t u0, int64_t Hp, const T* a, const T*, const T* bias, const T*) {
                    T* c_row = c_p + b * H + u0;
                    forward_row<T>(Hp, a, nullptr, bias, c_row, nullptr, c_row, m_p + b * H + u0);
                  });
    if (w_hr_t) gemm_kn<T>(m_p, x.size(0), *w_hr_t, y.data_ptr<T>(), /*accumulate=*/false);
  });
  h.copy_(y);
  return y;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(rnnkit, m) {
  m.def(
      "lstm_forward(Tensor x, Tensor w_ih, Tensor h0, Tensor c0, Tensor w_hh, Tensor? bias, Tensor? w_hr, "
      "int[] batch_sizes, bool keep, bool onednn) -> (Tensor, Tensor, Tensor, Tensor)",
      &lstm_forward);
  m.def(
      "lstm_backward(Tensor grad_y, Tensor grad_h, Tensor grad_c, Tensor c0, Tensor c_all, Tensor gates, "
      "Tensor w_hh, Tensor? w_hr, int[] batch_sizes, bool keep_dh, bool onednn) "
      "-> (Tensor, Tensor, Tensor, Tensor)",
      &lstm_backward);
  m.def("lstm_prepare_step(Tensor w_ih, Tensor w_hh, Tensor? b_ih, Tensor? b_hh) -> Tensor[]", &lstm_prepare_step);
  m.def("lstm_step(Tensor x, Tensor[] blocks, Tensor? w_hr_t, Tensor(a!) h, Tensor(b!) c) -> Tensor", &lstm_step);
}

}  // namespace rnnkit
