// GRU time loops (gate order r, z, n), torch.nn.GRU's formulation.
//
// forward, per step t on the first b_t rows:
//   a = h_{t-1} @ W_hh.T + b_hh                                  one GEMM
//   r = sigmoid(x_r + a_r);  z = sigmoid(x_z + a_z);  n = tanh(x_n + r * a_n)
//   h_t = n + z * (h_{t-1} - n)                                  one fused pass
// backward, per step in reverse, with dh = dL/dh_t:
//   dn = dh (1 - z)(1 - n^2);  dr = dn a_n r(1 - r);  dz = dh (h_{t-1} - n) z(1 - z)
//   dL/d gates_x = [dr, dz, dn];  dL/d gates_h = [dr, dz, dn * r]
//   dL/dh_{t-1} = dh * z + dL/d gates_h @ W_hh                   one GEMM
#include "common.h"

namespace rnnkit {
namespace {

// Saved per step and row: r, z, n and a_n side by side (4H).
template <typename T>
void forward_steps(const Tensor& gates_x, const Tensor& h0, const Linear& recurrent,
                   at::IntArrayRef batch_sizes, Tensor& y, Tensor& saved, bool keep) {
  const int64_t steps = gates_x.size(0), batch = gates_x.size(1), H = h0.size(1), G = 3 * H;
  Tensor gh_scratch = at::empty({batch, G}, gates_x.options());
  for (int64_t t = 0; t < steps; ++t) {
    const int64_t rows = batch_sizes[t];
    const Tensor h_prev = first(t == 0 ? h0 : y[t - 1], rows);
    const Tensor gh = recurrent.compute(h_prev, first(gh_scratch, rows));
    const T* gx_p = gates_x[t].data_ptr<T>();
    const T* gh_p = gh.data_ptr<T>();
    const T* h_prev_p = h_prev.data_ptr<T>();
    T* h_p = y[t].data_ptr<T>();
    T* s_p = keep ? saved[t].data_ptr<T>() : nullptr;
    for_rows(rows, G, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        const T* gx = gx_p + b * G;
        const T* ghr = gh_p + b * G;
        for_lanes<T>(H, [&](int64_t j, int64_t n_lanes) {
          const int64_t k = b * H + j;
          const Vec<T> r = sigmoid(load(gx + j, n_lanes) + load(ghr + j, n_lanes));
          const Vec<T> z = sigmoid(load(gx + H + j, n_lanes) + load(ghr + H + j, n_lanes));
          const Vec<T> a_n = load(ghr + 2 * H + j, n_lanes);
          const Vec<T> n = tanh(load(gx + 2 * H + j, n_lanes) + r * a_n);
          store(n + z * (load(h_prev_p + k, n_lanes) - n), h_p + k, n_lanes);
          if (s_p) {
            T* s = s_p + b * 4 * H;
            store(r, s + j, n_lanes);
            store(z, s + H + j, n_lanes);
            store(n, s + 2 * H + j, n_lanes);
            store(a_n, s + 3 * H + j, n_lanes);
          }
        });
      }
    });
  }
}

template <typename T>
void backward_steps(const Tensor& grad_y, const Tensor& h0, const Tensor& y, const Tensor& saved,
                    const Linear& recurrent_t, at::IntArrayRef batch_sizes, Tensor& carry,
                    Tensor& d_gates_x, Tensor& d_gates_h, Tensor& d_h_all) {
  const int64_t steps = grad_y.size(0), H = h0.size(1), G = 3 * H;
  T* dh_all_p = d_h_all.numel() > 0 ? d_h_all.data_ptr<T>() : nullptr;
  for (int64_t t = steps - 1; t >= 0; --t) {
    const int64_t rows = batch_sizes[t];
    const T* gy_p = grad_y[t].data_ptr<T>();
    const T* h_prev_p = (t == 0 ? h0 : y[t - 1]).data_ptr<T>();
    const T* s_p = saved[t].data_ptr<T>();
    T* carry_p = carry.data_ptr<T>();
    T* dgx_p = d_gates_x[t].data_ptr<T>();
    T* dgh_p = d_gates_h[t].data_ptr<T>();
    T* dh_p = dh_all_p ? dh_all_p + t * y.size(1) * H : nullptr;
    for_rows(rows, G, [&](int64_t begin, int64_t end) {
      const Vec<T> one(T(1));
      for (int64_t b = begin; b < end; ++b) {
        const T* s = s_p + b * 4 * H;
        for_lanes<T>(H, [&](int64_t j, int64_t n_lanes) {
          const int64_t k = b * H + j;
          const Vec<T> dh = load(carry_p + k, n_lanes) + load(gy_p + k, n_lanes);
          if (dh_p) store(dh, dh_p + k, n_lanes);
          const Vec<T> r = load(s + j, n_lanes), z = load(s + H + j, n_lanes);
          const Vec<T> n = load(s + 2 * H + j, n_lanes), a_n = load(s + 3 * H + j, n_lanes);
          const Vec<T> dn = dh * (one - z) * (one - n * n);
          const Vec<T> dr = dn * a_n * r * (one - r);
          const Vec<T> dz = dh * (load(h_prev_p + k, n_lanes) - n) * z * (one - z);
          store(dr, dgx_p + b * G + j, n_lanes);
          store(dz, dgx_p + b * G + H + j, n_lanes);
          store(dn, dgx_p + b * G + 2 * H + j, n_lanes);
          store(dr, dgh_p + b * G + j, n_lanes);
          store(dz, dgh_p + b * G + H + j, n_lanes);
          store(dn * r, dgh_p + b * G + 2 * H + j, n_lanes);
          store(dh * z, carry_p + k, n_lanes);
        });
      }
    });
    recurrent_t.add_into(first(d_gates_h[t], rows), first(carry, rows));
  }
}

std::tuple<Tensor, Tensor> gru_forward(const Tensor& gates_x, const Tensor& h0, const Tensor& w_hh,
                                       const std::optional<Tensor>& b_hh, at::IntArrayRef batch_sizes,
                                       bool keep, bool onednn) {
  check_inputs(gates_x, batch_sizes);
  const int64_t steps = gates_x.size(0), batch = gates_x.size(1), H = h0.size(1);
  const bool full = all_full(batch_sizes, batch);
  Tensor y = buffer({steps, batch, H}, gates_x, full);
  Tensor saved = keep ? buffer({steps, batch, 4 * H}, gates_x, full) : at::empty({0}, gates_x.options());
  const Linear recurrent(w_hh, b_hh, onednn);
  AT_DISPATCH_FLOATING_TYPES(gates_x.scalar_type(), "gru_forward", [&] {
    forward_steps<scalar_t>(gates_x, h0.contiguous(), recurrent, batch_sizes, y, saved, keep);
  });
  return {y, saved};
}

std::tuple<Tensor, Tensor, Tensor, Tensor> gru_backward(const Tensor& grad_y, const Tensor& grad_h,
                                                        const Tensor& h0, const Tensor& y,
                                                        const Tensor& saved, const Tensor& w_hh,
                                                        at::IntArrayRef batch_sizes, bool keep_dh,
                                                        bool onednn) {
  check_inputs(grad_y, batch_sizes);
  const int64_t steps = grad_y.size(0), batch = grad_y.size(1), H = h0.size(1);
  const bool full = all_full(batch_sizes, batch);
  Tensor carry = grad_h.contiguous().clone();
  Tensor d_gates_x = buffer({steps, batch, 3 * H}, grad_y, full);
  Tensor d_gates_h = buffer({steps, batch, 3 * H}, grad_y, full);
  Tensor d_h_all = keep_dh ? buffer({steps, batch, H}, grad_y, full) : at::empty({0}, grad_y.options());
  const Linear recurrent_t(w_hh.t(), std::nullopt, onednn);
  AT_DISPATCH_FLOATING_TYPES(grad_y.scalar_type(), "gru_backward", [&] {
    backward_steps<scalar_t>(grad_y, h0.contiguous(), y, saved, recurrent_t, batch_sizes, carry, d_gates_x,
                             d_gates_h, d_h_all);
  });
  return {d_gates_x, d_gates_h, d_h_all, carry};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(rnnkit, m) {
  m.def(
      "gru_forward(Tensor gates_x, Tensor h0, Tensor w_hh, Tensor? b_hh, int[] batch_sizes, bool keep, "
      "bool onednn) -> (Tensor, Tensor)",
      &gru_forward);
  m.def(
      "gru_backward(Tensor grad_y, Tensor grad_h, Tensor h0, Tensor y, Tensor saved, Tensor w_hh, "
      "int[] batch_sizes, bool keep_dh, bool onednn) -> (Tensor, Tensor, Tensor, Tensor)",
      &gru_backward);
}

}  // namespace rnnkit
