// Elman RNN time loops: h_t = act(gates_x[t] + h_{t-1} @ W_hh.T + b_hh), act = tanh or relu.
// Backward: da = dL/dh_t * act'(h_t), with act' read off h_t (1 - h^2, or h > 0);
// dL/dh_{t-1} = da @ W_hh.
#include "common.h"

namespace rnnkit {
namespace {

// One row of one step: h = act(x (+ r) (+ bias)).
template <typename T>
inline void forward_row(int64_t H, const T* x, const T* r, const T* bias, bool relu, T* h) {
  for_lanes<T>(H, [&](int64_t j, int64_t n) {
    const Vec<T> a = load(x + j, n) + load_or_zero(r ? r + j : nullptr, n) + load_or_zero(bias ? bias + j : nullptr, n);
    store(relu ? rnnkit::relu(a) : tanh(a), h + j, n);
  });
}

// The loops on a team (team.h), split by batch rows or by hidden units.
template <typename T>
void forward_steps(int64_t steps, int64_t B, int64_t I, int64_t H, const T* x, const T* w_ih, const T* h0,
                   const T* w_hh, const T* bias, at::IntArrayRef batch_sizes, bool relu, T* y) {
  run_team(team_size(B * H * (H + I)), [&](int64_t rank, int64_t threads) {
    const Split split = split_of(B, H, H * (I + H), Vec<T>::size(), rank, threads);
    const Share units = split.units;
    const int64_t n = units.size();
    InputShare<T> input(x, steps, B, I, w_ih, H, 1, split);
    const PackedB<T> wh = pack_units(w_hh, H, H, 1, units);
    const std::vector<T> b = pack_units(bias, H, 1, units);
    for (int64_t t = 0; t < steps; ++t) {
      const Share mine = split.running(batch_sizes[t]);
      T* a = input.step(t);  // row mine.begin first
      const T* h_prev = t == 0 ? h0 : y + (t - 1) * B * H;
      product(mine.size(), h_prev + mine.begin * H, H, wh, a, n, /*accumulate=*/true);
      for (int64_t r = mine.begin; r < mine.end; ++r) {
        forward_row<T>(n, a + (r - mine.begin) * n, nullptr, b.empty() ? nullptr : b.data(), relu,
                       y + (t * B + r) * H + units.begin);
      }
      split.barrier();
    }
    release_product();
  });
}

template <typename T>
void backward_steps(int64_t steps, int64_t B, int64_t I, int64_t H, const T* grad_y, const T* y, const T* w_ih,
                    const T* w_hh, at::IntArrayRef batch_sizes, bool relu, T* carry, T* d_gates, T* d_h_all,
                    T* d_x) {
  run_team(team_size(B * H * H), [&](int64_t rank, int64_t threads) {
    const Split split = split_of(B, H, H * (I + H), Vec<T>::size(), rank, threads);
    const Share units = split.units;
    const PackedB<T> wh = pack_columns(w_hh, H, H, units);
    InputGradientShare<T> input(w_ih, H, I, steps, B, d_gates, d_x, split);
    const Vec<T> one(T(1));
    for (int64_t t = steps - 1; t >= 0; --t) {
      const Share mine = split.running(batch_sizes[t]);
      T* da = d_gates + t * B * H;
      for (int64_t r = mine.begin; r < mine.end; ++r) {
        for_lanes<T>(units.size(), [&](int64_t j, int64_t lanes) {
          const int64_t k = r * H + units.begin + j, kt = t * B * H + k;
          const Vec<T> dh = load(carry + k, lanes) + load(grad_y + kt, lanes);
          if (d_h_all) store(dh, d_h_all + kt, lanes);
          const Vec<T> h_t = load(y + kt, lanes);
          store(relu ? relu_backward(dh, h_t) : dh * (one - h_t * h_t), da + k, lanes);
        });
      }
      split.barrier();
      T* carry_rows = carry + mine.begin * H + units.begin;
      product(mine.size(), da + mine.begin * H, H, wh, carry_rows, H, /*accumulate=*/false);
      input.step(t);
    }
    release_product();
  });
}

// x (T, B, I); bias = b_ih + b_hh (or none).
Tensor elman_forward(const Tensor& x, const Tensor& w_ih, const Tensor& h0, const Tensor& w_hh,
                     const std::optional<Tensor>& bias, at::IntArrayRef batch_sizes, bool relu) {
  check_inputs(x, batch_sizes);
  const int64_t steps = x.size(0), B = x.size(1), I = x.size(2), H = h0.size(1);
  const Tensor h0c = h0.contiguous(), w_ihc = w_ih.contiguous(), w_hhc = w_hh.contiguous();
  const std::optional<Tensor> b = bias ? std::optional<Tensor>(bias->contiguous()) : std::nullopt;
  Tensor y = buffer({steps, B, H}, x, all_full(batch_sizes, B));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "elman_forward", [&] {
    using T = scalar_t;
    forward_steps<T>(steps, B, I, H, x.data_ptr<T>(), w_ihc.data_ptr<T>(), h0c.data_ptr<T>(), w_hhc.data_ptr<T>(),
                     maybe<T>(b), batch_sizes, relu, y.data_ptr<T>());
  });
  return y;
}

// -> (dL/d gates, dL/dh of every step (if keep_dh), dL/dh0, dL/dx (if w_ih is given)).
std::tuple<Tensor, Tensor, Tensor, Tensor> elman_backward(const Tensor& grad_y, const Tensor& grad_h, const Tensor& y,
                                                          const std::optional<Tensor>& w_ih, const Tensor& w_hh,
                                                          at::IntArrayRef batch_sizes, bool relu, bool keep_dh) {
  check_inputs(grad_y, batch_sizes);
  const int64_t steps = grad_y.size(0), B = grad_y.size(1), H = grad_y.size(2);
  const bool full = all_full(batch_sizes, B);
  const Tensor w_hhc = w_hh.contiguous();
  const std::optional<Tensor> w_ihc = w_ih ? std::optional<Tensor>(w_ih->contiguous()) : std::nullopt;
  const int64_t I = w_ih ? w_ih->size(1) : 0;
  Tensor d_x = w_ih ? buffer({steps, B, I}, grad_y, full) : at::empty({0}, grad_y.options());
  Tensor carry = grad_h.contiguous().clone();
  Tensor d_gates = buffer({steps, B, H}, grad_y, full);
  Tensor d_h_all = keep_dh ? buffer({steps, B, H}, grad_y, full) : at::empty({0}, grad_y.options());
  AT_DISPATCH_FLOATING_TYPES(grad_y.scalar_type(), "elman_backward", [&] {
    using T = scalar_t;
    backward_steps<T>(steps, B, I, H, grad_y.data_ptr<T>(), y.data_ptr<T>(), maybe<T>(w_ihc), w_hhc.data_ptr<T>(),
                      batch_sizes, relu, carry.data_ptr<T>(), d_gates.data_ptr<T>(),
                      keep_dh ? d_h_all.data_ptr<T>() : nullptr, w_ih ? d_x.data_ptr<T>() : nullptr);
  });
  return {d_gates, d_h_all, carry, d_x};
}

Tensor elman_prepare_step(const Tensor& w_ih, const Tensor& w_hh, const std::optional<Tensor>& b_ih,
                                       const std::optional<Tensor>& b_hh) {
  return prepare_step(w_ih, w_hh, b_ih, b_hh, /*gates=*/1, /*sum_biases=*/true);
}

// One step for streaming, h updated in place, in the parts of `prepare_step`.
Tensor elman_step(const Tensor& x, const Tensor& prepared, bool relu, Tensor& h) {
  check_step(x, h);
  const int64_t H = h.size(1);
  Tensor y = at::empty_like(h);  // the parts write y while the others still read h
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "elman_step", [&] {
    using T = scalar_t;
    T* y_p = y.data_ptr<T>();
    step_parts<T>(prepared, H, 1, x, h, /*separate=*/false,
                  [&](int64_t b, int64_t u0, int64_t Hp, const T* a, const T*, const T* bias, const T*) {
                    forward_row<T>(Hp, a, nullptr, bias, relu, y_p + b * H + u0);
                  });
  });
  h.copy_(y);
  return y;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(rnnkit, m) {
  m.def(
      "elman_forward(Tensor x, Tensor w_ih, Tensor h0, Tensor w_hh, Tensor? bias, int[] batch_sizes, bool relu) "
      "-> Tensor",
      &elman_forward);
  m.def(
      "elman_backward(Tensor grad_y, Tensor grad_h, Tensor y, Tensor? w_ih, Tensor w_hh, int[] batch_sizes, "
      "bool relu, bool keep_dh) -> (Tensor, Tensor, Tensor, Tensor)",
      &elman_backward);
  m.def("elman_prepare_step(Tensor w_ih, Tensor w_hh, Tensor? b_ih, Tensor? b_hh) -> Tensor");
  m.def("elman_step(Tensor x, Tensor prepared, bool relu, Tensor(a!) h) -> Tensor");
}

// See step.h: a CPU kernel, so that its fake kernel is used when tracing.
TORCH_LIBRARY_IMPL(rnnkit, CPU, m) {
  m.impl("elman_prepare_step", &elman_prepare_step);
  m.impl("elman_step", &elman_step);
}

}  // namespace rnnkit
