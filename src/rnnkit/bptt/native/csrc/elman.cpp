// Elman RNN time loops: h_t = act(gates_x[t] + h_{t-1} @ W_hh.T + b_hh), act = tanh or relu.
// Backward: da = dL/dh_t * act'(h_t), with act' read off h_t (1 - h^2, or h > 0);
// dL/dh_{t-1} = da @ W_hh.
#include "common.h"

namespace rnnkit {
namespace {

template <typename T>
void forward_steps(const Tensor& gates_x, const Tensor& h0, const Linear& recurrent,
                   at::IntArrayRef batch_sizes, bool relu, Tensor& y) {
  const int64_t steps = gates_x.size(0), batch = gates_x.size(1), H = h0.size(1);
  Tensor gh_scratch = at::empty({batch, H}, gates_x.options());
  for (int64_t t = 0; t < steps; ++t) {
    const int64_t rows = batch_sizes[t];
    const Tensor gh = recurrent.compute(first(t == 0 ? h0 : y[t - 1], rows), first(gh_scratch, rows));
    const T* gx_p = gates_x[t].data_ptr<T>();
    const T* gh_p = gh.data_ptr<T>();
    T* h_p = y[t].data_ptr<T>();
    for_rows(rows, H, [&](int64_t begin, int64_t end) {
      const Vec<T> zero(T(0));
      for_lanes<T>((end - begin) * H, [&](int64_t j, int64_t n) {
        const int64_t k = begin * H + j;
        const Vec<T> a = load(gx_p + k, n) + load(gh_p + k, n);
        store(relu ? at::vec::maximum(a, zero) : tanh(a), h_p + k, n);
      });
    });
  }
}

template <typename T>
void backward_steps(const Tensor& grad_y, const Tensor& y, const Linear& recurrent_t,
                    at::IntArrayRef batch_sizes, bool relu, Tensor& carry, Tensor& d_gates,
                    Tensor& d_h_all) {
  const int64_t steps = grad_y.size(0), batch = grad_y.size(1), H = grad_y.size(2);
  T* dh_all_p = d_h_all.numel() > 0 ? d_h_all.data_ptr<T>() : nullptr;
  for (int64_t t = steps - 1; t >= 0; --t) {
    const int64_t rows = batch_sizes[t];
    const T* gy_p = grad_y[t].data_ptr<T>();
    const T* h_p = y[t].data_ptr<T>();
    const T* carry_p = carry.data_ptr<T>();
    T* da_p = d_gates[t].data_ptr<T>();
    T* dh_p = dh_all_p ? dh_all_p + t * batch * H : nullptr;
    for_rows(rows, H, [&](int64_t begin, int64_t end) {
      const Vec<T> one(T(1)), zero(T(0));
      for_lanes<T>((end - begin) * H, [&](int64_t j, int64_t n) {
        const int64_t k = begin * H + j;
        const Vec<T> dh = load(carry_p + k, n) + load(gy_p + k, n);
        if (dh_p) store(dh, dh_p + k, n);
        const Vec<T> h = load(h_p + k, n);
        const Vec<T> slope = relu ? Vec<T>::blendv(zero, one, h > zero) : one - h * h;
        store(dh * slope, da_p + k, n);
      });
    });
    recurrent_t.into(first(d_gates[t], rows), first(carry, rows));
  }
}

Tensor elman_forward(const Tensor& gates_x, const Tensor& h0, const Tensor& w_hh,
                     const std::optional<Tensor>& b_hh, at::IntArrayRef batch_sizes, bool relu,
                     bool onednn) {
  check_inputs(gates_x, batch_sizes);
  const int64_t steps = gates_x.size(0), batch = gates_x.size(1), H = h0.size(1);
  Tensor y = buffer({steps, batch, H}, gates_x, all_full(batch_sizes, batch));
  const Linear recurrent(w_hh, b_hh, onednn);
  AT_DISPATCH_FLOATING_TYPES(gates_x.scalar_type(), "elman_forward", [&] {
    forward_steps<scalar_t>(gates_x, h0.contiguous(), recurrent, batch_sizes, relu, y);
  });
  return y;
}

std::tuple<Tensor, Tensor, Tensor> elman_backward(const Tensor& grad_y, const Tensor& grad_h, const Tensor& y,
                                                  const Tensor& w_hh, at::IntArrayRef batch_sizes, bool relu,
                                                  bool keep_dh, bool onednn) {
  check_inputs(grad_y, batch_sizes);
  const int64_t steps = grad_y.size(0), batch = grad_y.size(1), H = grad_y.size(2);
  const bool full = all_full(batch_sizes, batch);
  Tensor carry = grad_h.contiguous().clone();
  Tensor d_gates = buffer({steps, batch, H}, grad_y, full);
  Tensor d_h_all = keep_dh ? buffer({steps, batch, H}, grad_y, full) : at::empty({0}, grad_y.options());
  const Linear recurrent_t(w_hh.t(), std::nullopt, onednn);
  AT_DISPATCH_FLOATING_TYPES(grad_y.scalar_type(), "elman_backward", [&] {
    backward_steps<scalar_t>(grad_y, y, recurrent_t, batch_sizes, relu, carry, d_gates, d_h_all);
  });
  return {d_gates, d_h_all, carry};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(rnnkit, m) {
  m.def(
      "elman_forward(Tensor gates_x, Tensor h0, Tensor w_hh, Tensor? b_hh, int[] batch_sizes, bool relu, "
      "bool onednn) -> Tensor",
      &elman_forward);
  m.def(
      "elman_backward(Tensor grad_y, Tensor grad_h, Tensor y, Tensor w_hh, int[] batch_sizes, bool relu, "
      "bool keep_dh, bool onednn) -> (Tensor, Tensor, Tensor)",
      &elman_backward);
}

}  // namespace rnnkit
