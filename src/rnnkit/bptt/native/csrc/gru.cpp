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
// dL/d gates_h shares its first 2H columns with dL/d gates_x: only dn * r is kept for
// every step (the weight gradient reads the rest from dL/d gates_x), which saves 2H
// floats per step and row against torch.nn.GRU's memory.
#include "common.h"

namespace rnnkit {
namespace {

// One row of one step for n units, from x = input part, r = recurrent part (each + its
// bias, if any); gate g of unit j at x[g * n + j] (the same for r and the biases). Saves
// r, z, n and a_n into `kept` (may be null) at kept[g * kept_stride + j]. h may be h_prev.
template <typename T>
inline void forward_row(int64_t n, const T* x, const T* b_x, const T* r, const T* b_r, const T* h_prev, T* h,
                        T* kept, int64_t kept_stride) {
  for_lanes<T>(n, [&](int64_t j, int64_t lanes) {
    auto part = [&](const T* p, const T* bias, int64_t gate) {
      const int64_t k = gate * n + j;
      return load(p + k, lanes) + load_or_zero(bias ? bias + k : nullptr, lanes);
    };
    const Vec<T> r_gate = sigmoid(part(x, b_x, 0) + part(r, b_r, 0));
    const Vec<T> z = sigmoid(part(x, b_x, 1) + part(r, b_r, 1));
    const Vec<T> a_n = part(r, b_r, 2);
    const Vec<T> n_gate = tanh(part(x, b_x, 2) + r_gate * a_n);
    store(n_gate + z * (load(h_prev + j, lanes) - n_gate), h + j, lanes);
    if (kept) {
      store(r_gate, kept + j, lanes);
      store(z, kept + kept_stride + j, lanes);
      store(n_gate, kept + 2 * kept_stride + j, lanes);
      store(a_n, kept + 3 * kept_stride + j, lanes);
    }
  });
}

// The forward loop on a team (team.h), split by batch rows or by hidden units; a_n needs
// the recurrent product apart from the input one. Saved per step and row: r, z, n and a_n
// side by side (4H).
template <typename T>
void forward_steps(int64_t steps, int64_t B, int64_t I, int64_t H, const T* x, const T* w_ih, const T* b_ih,
                   const T* h0, const T* w_hh, const T* b_hh, at::IntArrayRef batch_sizes, T* y, T* saved) {
  run_team(team_size(B * 3 * H * (H + I)), [&](int64_t rank, int64_t threads) {
    const Split split = split_of(B, H, 3 * H * (I + H), Vec<T>::size(), rank, threads);
    const Share units = split.units;
    const int64_t n = 3 * units.size();
    InputShare<T> input(x, steps, B, I, w_ih, H, 3, split);
    const PackedB<T> wh = pack_units(w_hh, H, H, 3, units);
    const std::vector<T> bx = pack_units(b_ih, H, 3, units), bh = pack_units(b_hh, H, 3, units);
    std::vector<T> gh(split.rows.size() * n);
    for (int64_t t = 0; t < steps; ++t) {
      const Share mine = split.running(batch_sizes[t]);
      const T* h_prev = t == 0 ? h0 : y + (t - 1) * B * H;
      const T* gx = input.step(t);  // row mine.begin first
      product(mine.size(), h_prev + mine.begin * H, H, wh, gh.data(), n, /*accumulate=*/false);
      for (int64_t r = mine.begin; r < mine.end; ++r) {
        const int64_t k = r * H + units.begin, i = (r - mine.begin) * n;
        forward_row<T>(units.size(), gx + i, bx.empty() ? nullptr : bx.data(), gh.data() + i,
                       bh.empty() ? nullptr : bh.data(), h_prev + k, y + t * B * H + k,
                       saved ? saved + (t * B + r) * 4 * H + units.begin : nullptr, H);
      }
      split.barrier();
    }
    release_product();
  });
}

// The backward loop on a team, split as the forward one: the pointwise part on the
// thread's rows and units; then (split by units, once the team has met) the thread adds
// its columns of dL/d gates_h @ W_hh to dL/dh_{t-1}, the r and z blocks read from
// dL/d gates_x and the n block from dn * r.
template <typename T>
void backward_steps(int64_t steps, int64_t B, int64_t I, int64_t H, const T* grad_y, const T* h0, const T* y,
                    const T* saved, const T* w_ih, const T* w_hh, at::IntArrayRef batch_sizes, T* carry,
                    T* d_gates_x, T* d_n_reset, T* d_h_all, T* d_x) {
  const int64_t G = 3 * H;
  run_team(team_size(B * G * H), [&](int64_t rank, int64_t threads) {
    const Split split = split_of(B, H, G * (I + H), Vec<T>::size(), rank, threads);
    const Share units = split.units;
    const PackedB<T> w_rz = pack_columns(w_hh, 2 * H, H, units), w_n = pack_columns(w_hh + 2 * H * H, H, H, units);
    InputGradientShare<T> input(w_ih, G, I, steps, B, d_gates_x, d_x, split);
    const Vec<T> one(T(1));
    for (int64_t t = steps - 1; t >= 0; --t) {
      const Share mine = split.running(batch_sizes[t]);
      const T* gy = grad_y + t * B * H;
      const T* h_prev = t == 0 ? h0 : y + (t - 1) * B * H;
      T* dgx = d_gates_x + t * B * G;
      T* dn_r = d_n_reset + t * B * H;
      for (int64_t b = mine.begin; b < mine.end; ++b) {
        const T* s = saved + (t * B + b) * 4 * H + units.begin;
        T* d = dgx + b * G + units.begin;
        for_lanes<T>(units.size(), [&](int64_t j, int64_t lanes) {
          const int64_t k = b * H + units.begin + j;
          const Vec<T> dh = load(carry + k, lanes) + load(gy + k, lanes);
          if (d_h_all) store(dh, d_h_all + t * B * H + k, lanes);
          const Vec<T> r = load(s + j, lanes), z = load(s + H + j, lanes);
          const Vec<T> n = load(s + 2 * H + j, lanes), a_n = load(s + 3 * H + j, lanes);
          const Vec<T> dn = dh * (one - z) * (one - n * n);
          store(dn * a_n * r * (one - r), d + j, lanes);
          store(dh * (load(h_prev + k, lanes) - n) * z * (one - z), d + H + j, lanes);
          store(dn, d + 2 * H + j, lanes);
          store(dn * r, dn_r + k, lanes);
          store(dh * z, carry + k, lanes);
        });
      }
      split.barrier();
      T* carry_rows = carry + mine.begin * H + units.begin;
      product(mine.size(), dgx + mine.begin * G, G, w_rz, carry_rows, H, /*accumulate=*/true);
      product(mine.size(), dn_r + mine.begin * H, H, w_n, carry_rows, H, /*accumulate=*/true);
      input.step(t);
    }
    release_product();
  });
}

// x (T, B, I).
std::tuple<Tensor, Tensor> gru_forward(const Tensor& x, const Tensor& w_ih, const std::optional<Tensor>& b_ih,
                                       const Tensor& h0, const Tensor& w_hh, const std::optional<Tensor>& b_hh,
                                       at::IntArrayRef batch_sizes, bool keep) {
  check_inputs(x, batch_sizes);
  const int64_t steps = x.size(0), B = x.size(1), I = x.size(2), H = h0.size(1);
  const bool full = all_full(batch_sizes, B);
  const Tensor h0c = h0.contiguous(), w_ihc = w_ih.contiguous(), w_hhc = w_hh.contiguous();
  const std::optional<Tensor> bx = b_ih ? std::optional<Tensor>(b_ih->contiguous()) : std::nullopt;
  const std::optional<Tensor> bh = b_hh ? std::optional<Tensor>(b_hh->contiguous()) : std::nullopt;
  Tensor y = buffer({steps, B, H}, x, full);
  Tensor saved = keep ? buffer({steps, B, 4 * H}, x, full) : at::empty({0}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gru_forward", [&] {
    using T = scalar_t;
    forward_steps<T>(steps, B, I, H, x.data_ptr<T>(), w_ihc.data_ptr<T>(), maybe<T>(bx), h0c.data_ptr<T>(),
                     w_hhc.data_ptr<T>(), maybe<T>(bh), batch_sizes, y.data_ptr<T>(),
                     keep ? saved.data_ptr<T>() : nullptr);
  });
  return {y, saved};
}

// -> (dL/d gates_x, dn * r, dL/dh of every step (if keep_dh), dL/dh0, dL/dx (if w_ih is given)).
std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor> gru_backward(const Tensor& grad_y, const Tensor& grad_h,
                                                                const Tensor& h0, const Tensor& y, const Tensor& saved,
                                                                const std::optional<Tensor>& w_ih, const Tensor& w_hh,
                                                                at::IntArrayRef batch_sizes, bool keep_dh) {
  check_inputs(grad_y, batch_sizes);
  const int64_t steps = grad_y.size(0), B = grad_y.size(1), H = h0.size(1);
  const bool full = all_full(batch_sizes, B);
  const Tensor h0c = h0.contiguous(), w_hhc = w_hh.contiguous();
  const std::optional<Tensor> w_ihc = w_ih ? std::optional<Tensor>(w_ih->contiguous()) : std::nullopt;
  const int64_t I = w_ih ? w_ih->size(1) : 0;
  Tensor d_x = w_ih ? buffer({steps, B, I}, grad_y, full) : at::empty({0}, grad_y.options());
  Tensor carry = grad_h.contiguous().clone();
  Tensor d_gates_x = buffer({steps, B, 3 * H}, grad_y, full);
  Tensor d_n_reset = buffer({steps, B, H}, grad_y, full);
  Tensor d_h_all = keep_dh ? buffer({steps, B, H}, grad_y, full) : at::empty({0}, grad_y.options());
  AT_DISPATCH_FLOATING_TYPES(grad_y.scalar_type(), "gru_backward", [&] {
    using T = scalar_t;
    backward_steps<T>(steps, B, I, H, grad_y.data_ptr<T>(), h0c.data_ptr<T>(), y.data_ptr<T>(),
                      saved.data_ptr<T>(), maybe<T>(w_ihc), w_hhc.data_ptr<T>(), batch_sizes, carry.data_ptr<T>(),
                      d_gates_x.data_ptr<T>(), d_n_reset.data_ptr<T>(), keep_dh ? d_h_all.data_ptr<T>() : nullptr,
                      w_ih ? d_x.data_ptr<T>() : nullptr);
  });
  return {d_gates_x, d_n_reset, d_h_all, carry, d_x};
}

Tensor gru_prepare_step(const Tensor& w_ih, const Tensor& w_hh, const std::optional<Tensor>& b_ih,
                                     const std::optional<Tensor>& b_hh) {
  return prepare_step(w_ih, w_hh, b_ih, b_hh, /*gates=*/3, /*sum_biases=*/false);
}

// One step for streaming, h updated in place, in the parts of `prepare_step`.
Tensor gru_step(const Tensor& x, const Tensor& prepared, Tensor& h) {
  check_step(x, h);
  const int64_t H = h.size(1);
  Tensor y = at::empty_like(h);  // the parts write y while the others still read h
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gru_step", [&] {
    using T = scalar_t;
    T* y_p = y.data_ptr<T>();
    const T* h_p = h.data_ptr<T>();
    step_parts<T>(prepared, H, 3, x, h, /*separate=*/true,
                  [&](int64_t b, int64_t u0, int64_t Hp, const T* gx, const T* gh, const T* b_x, const T* b_h) {
                    forward_row<T>(Hp, gx, b_x, gh, b_h, h_p + b * H + u0, y_p + b * H + u0, nullptr, 0);
                  });
  });
  h.copy_(y);
  return y;
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(rnnkit, m) {
  m.def(
      "gru_forward(Tensor x, Tensor w_ih, Tensor? b_ih, Tensor h0, Tensor w_hh, Tensor? b_hh, int[] batch_sizes, "
      "bool keep) -> (Tensor, Tensor)",
      &gru_forward);
  m.def(
      "gru_backward(Tensor grad_y, Tensor grad_h, Tensor h0, Tensor y, Tensor saved, Tensor? w_ih, Tensor w_hh, "
      "int[] batch_sizes, bool keep_dh) -> (Tensor, Tensor, Tensor, Tensor, Tensor)",
      &gru_backward);
  m.def("gru_prepare_step(Tensor w_ih, Tensor w_hh, Tensor? b_ih, Tensor? b_hh) -> Tensor");
  m.def("gru_step(Tensor x, Tensor prepared, Tensor(a!) h) -> Tensor");
}

// See step.h: a CPU kernel, so that its fake kernel is used when tracing.
TORCH_LIBRARY_IMPL(rnnkit, CPU, m) {
  m.impl("gru_prepare_step", &gru_prepare_step);
  m.impl("gru_step", &gru_step);
}

}  // namespace rnnkit
