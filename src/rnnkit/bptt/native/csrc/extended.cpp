// The extended engine's loops (rnnkit/bptt/extended.py documents the math): any cell of
// zoo_cells.h, with zoneout and recurrent dropout. The input gates x @ W_ih.T are formed
// inside, a step of the thread's rows at a time (input.h), and so is dL/dx, as in the
// plain loops; a cell's row struct takes them on from there (layer norm included).
//
// The team (team.h) splits the batch rows only: layer norm needs every unit of a row,
// and rows never wait for each other. Per step, each thread forms its rows' recurrent
// gates (h_{t-1} * mask) @ W_hh.T in one product against W_hh packed once, then runs the
// cell's pointwise part row by row; backward, the pointwise part, then one product for
// dL/dh_{t-1} = (dL/d gates_h @ W_hh) * mask. A batch smaller than the team leaves
// threads idle: large layers at batch 1 run on one core here (the plain LSTM, GRU and
// Elman loops split their units instead).
#include <string>

#include "common.h"
#include "zoo_cells.h"

namespace rnnkit {
namespace {

template <typename T>
In<T> pointers(const std::vector<Tensor>& tensors) {
  In<T> out;
  for (const Tensor& t : tensors) out.push_back(t.data_ptr<T>());
  return out;
}

// The team's split: by batch rows, every unit (layer norm needs a whole row).
inline Split rows_of(int64_t B, int64_t H, int64_t rank, int64_t threads) {
  return {share_of(B, rank, threads, 1), {0, H}, true, rank, threads};
}

template <typename T, typename Cell>
void forward_steps(int64_t steps, int64_t B, int64_t I, int64_t H, const T* x, const T* w_ih, const T* b_ih,
                   const T* w_hh, const T* b_hh, const In<T>& params, const In<T>& state0,
                   at::IntArrayRef batch_sizes, const Zoneout<T>& zoneout, const T* mask, int64_t zoned,
                   const Out<T>& states, T* saved) {
  constexpr int64_t S = Cell::states;
  const int64_t G = Cell::gates * H, width = Cell::saved_width(H);
  run_team(team_size(B * G * (H + I)), [&](int64_t rank, int64_t threads) {
    const Split split = rows_of(B, H, rank, threads);
    const Share rows = split.rows;
    const PackedB<T> wh = pack_units(w_hh, H, H, Cell::gates, Share{0, H});
    InputShare<T> input(x, steps, B, I, w_ih, H, Cell::gates, split);
    std::vector<T> gh(rows.size() * G), h_in(mask ? rows.size() * H : 0), work(2 * width);
    In<T> prev(S);
    Out<T> next(S);
    for (int64_t t = 0; t < steps; ++t) {
      const int64_t end = std::max(rows.begin, std::min(rows.end, batch_sizes[t]));
      if (end == rows.begin) continue;
      auto previous = [&](int64_t k) { return t == 0 ? state0[k] : states[k] + (t - 1) * B * H; };
      const T* h = previous(0) + rows.begin * H;
      if (mask) {
        for (int64_t k = 0; k < (end - rows.begin) * H; ++k) h_in[k] = h[k] * mask[rows.begin * H + k];
        h = h_in.data();
      }
      product(end - rows.begin, h, H, wh, gh.data(), G, /*accumulate=*/false);
      T* gx_rows = input.step(t);
      for (int64_t r = rows.begin; r < end; ++r) {
        T* g = gh.data() + (r - rows.begin) * G;
        T* gx = gx_rows + (r - rows.begin) * G;
        if (b_hh) {
          for (int64_t k = 0; k < G; ++k) g[k] += b_hh[k];
        }
        if (b_ih) {
          for (int64_t k = 0; k < G; ++k) gx[k] += b_ih[k];
        }
        for (int64_t k = 0; k < S; ++k) {
          prev[k] = previous(k) + r * H;
          next[k] = states[k] + (t * B + r) * H;
        }
        T* s = saved ? saved + (t * B + r) * width : work.data() + width;
        Cell::template forward<T>(H, params, gx, g, prev, next, s, work.data());
        if (!zoneout.on) continue;
        for (int64_t k = 0; k < zoned; ++k) {
          for_lanes<T>(H, [&](int64_t j, int64_t n) {
            const Vec<T> fresh = load(next[k] + j, n);
            store(fresh + zoneout.at(t, r, j, n) * (load(prev[k] + j, n) - fresh), next[k] + j, n);
          });
        }
      }
    }
    release_product();
  });
}

// carry[k] holds dL/d(state entry k) of every row, running; d_params_all (threads, sum of
// the params' sizes) one row per thread, summed by the caller.
template <typename T, typename Cell>
void backward_steps(int64_t steps, int64_t B, int64_t I, int64_t H, const T* grad_y, const In<T>& state0,
                    const In<T>& states, const T* saved, const T* w_ih, const T* w_hh, const In<T>& params,
                    const std::vector<int64_t>& param_sizes, at::IntArrayRef batch_sizes, const Zoneout<T>& zoneout,
                    const T* mask, int64_t zoned, const Out<T>& carry, T* d_gates_x, T* d_gates_h, T* d_h_all,
                    T* d_x, T* d_params_all, int64_t param_total) {
  constexpr int64_t S = Cell::states;
  const int64_t G = Cell::gates * H, width = Cell::saved_width(H);
  run_team(team_size(B * G * (H + I)), [&](int64_t rank, int64_t threads) {
    const Split split = rows_of(B, H, rank, threads);
    const Share rows = split.rows;
    const PackedB<T> wh = pack_columns(w_hh, G, H, Share{0, H});
    InputGradientShare<T> input(w_ih, G, I, steps, B, d_gates_x, d_x, split);
    std::vector<T> d_h(rows.size() * H), grads(S * H), direct(S * H), work(width);
    Out<T> grad(S), d_prev(S), d_params;
    for (int64_t k = 0, offset = 0; k < static_cast<int64_t>(param_sizes.size()); offset += param_sizes[k++]) {
      d_params.push_back(d_params_all + rank * param_total + offset);
    }
    for (int64_t k = 0; k < S; ++k) grad[k] = grads.data() + k * H;
    In<T> prev(S);
    for (int64_t t = steps - 1; t >= 0; --t) {
      const int64_t end = std::max(rows.begin, std::min(rows.end, batch_sizes[t]));
      if (end == rows.begin) continue;
      for (int64_t r = rows.begin; r < end; ++r) {
        for (int64_t k = 0; k < S; ++k) {
          prev[k] = (t == 0 ? state0[k] : states[k] + (t - 1) * B * H) + r * H;
          d_prev[k] = carry[k] + r * H;
        }
        const T* gy = grad_y + (t * B + r) * H;
        for (int64_t j = 0; j < H; ++j) grads[j] = carry[0][r * H + j] + gy[j];
        for (int64_t k = 1; k < S; ++k) std::copy_n(carry[k] + r * H, H, grads.data() + k * H);
        if (d_h_all) std::copy_n(grads.data(), H, d_h_all + (t * B + r) * H);
        const int64_t zoned_here = zoneout.on ? zoned : 0;
        for (int64_t k = 0; k < zoned_here; ++k) {
          for_lanes<T>(H, [&](int64_t j, int64_t n) {
            const Vec<T> g = load(grad[k] + j, n), keep = zoneout.at(t, r, j, n) * g;
            store(keep, direct.data() + k * H + j, n);
            store(g - keep, grad[k] + j, n);
          });
        }
        T* dgx = d_gates_x + (t * B + r) * G;
        T* dgh = Cell::separate ? d_gates_h + (t * B + r) * G : nullptr;
        Cell::template backward<T>(H, params, grad, saved + (t * B + r) * width, prev, dgx, dgh, d_prev, d_params,
                                   work.data());
        for (int64_t k = 0; k < zoned_here; ++k) {
          for (int64_t j = 0; j < H; ++j) d_prev[k][j] += direct[k * H + j];
        }
      }
      const T* dg = (Cell::separate ? d_gates_h : d_gates_x) + (t * B + rows.begin) * G;
      product(end - rows.begin, dg, G, wh, d_h.data(), H, /*accumulate=*/false);
      T* c0 = carry[0] + rows.begin * H;
      for (int64_t k = 0; k < (end - rows.begin) * H; ++k) {
        c0[k] += mask ? d_h[k] * mask[rows.begin * H + k] : d_h[k];
      }
      input.step(t);
    }
    release_product();
  });
}

// f(row) with the cell's row struct.
template <typename F>
auto with_cell(const std::string& cell, const F& f) {
  if (cell == "lstm") return f(LSTMRow{});
  if (cell == "gru") return f(GRURow{});
  if (cell == "elman_tanh") return f(ElmanRow<false>{});
  if (cell == "elman_relu") return f(ElmanRow<true>{});
  if (cell == "peephole_lstm") return f(PeepholeLSTMRow{});
  if (cell == "slstm") return f(SLSTMRow{});
  if (cell == "layernorm_lstm") return f(LayerNormLSTMRow{});
  TORCH_CHECK(cell == "layernorm_gru", "rnnkit native: no extended loop for cell '", cell, "'");
  return f(LayerNormGRURow{});
}

std::vector<Tensor> contiguous(at::TensorList tensors) {
  std::vector<Tensor> out;
  for (const Tensor& t : tensors) out.push_back(t.contiguous());
  return out;
}

std::optional<Tensor> contiguous(const std::optional<Tensor>& t) {
  return t ? std::optional<Tensor>(t->contiguous()) : std::nullopt;
}

// x (T, B, I) -> (the states of every step, one (T, B, H) per entry; saved).
std::tuple<std::vector<Tensor>, Tensor> extended_forward(const std::string& cell, const Tensor& x, const Tensor& w_ih,
                                                         const std::optional<Tensor>& b_ih, const Tensor& w_hh,
                                                         const std::optional<Tensor>& b_hh, at::TensorList params,
                                                         at::TensorList state0, at::IntArrayRef batch_sizes,
                                                         const std::optional<Tensor>& zoneout,
                                                         const std::optional<Tensor>& mask, int64_t zoned, bool keep) {
  const Tensor gx = x.contiguous();
  check_inputs(gx, batch_sizes);
  const int64_t steps = gx.size(0), B = gx.size(1), H = state0[0].size(1), I = gx.size(2);
  const bool full = all_full(batch_sizes, B);
  const Tensor w = w_hh.contiguous(), wi = w_ih.contiguous();
  const std::optional<Tensor> b = contiguous(b_hh), bi = contiguous(b_ih);
  const std::optional<Tensor> z = zoneout ? std::optional<Tensor>(zoneout->contiguous()) : std::nullopt;
  const std::optional<Tensor> m = mask ? std::optional<Tensor>(mask->contiguous()) : std::nullopt;
  const std::vector<Tensor> p = contiguous(params), s0 = contiguous(state0);
  return with_cell(cell, [&](auto row) {
    using Cell = decltype(row);
    std::vector<Tensor> states;
    for (int64_t k = 0; k < Cell::states; ++k) states.push_back(buffer({steps, B, H}, gx, full));
    Tensor saved = keep ? buffer({steps, B, Cell::saved_width(H)}, gx, full) : at::empty({0}, gx.options());
    AT_DISPATCH_FLOATING_TYPES(gx.scalar_type(), "extended_forward", [&] {
      using T = scalar_t;
      forward_steps<T, Cell>(steps, B, I, H, gx.data_ptr<T>(), wi.data_ptr<T>(), maybe<T>(bi), w.data_ptr<T>(),
                             maybe<T>(b), pointers<T>(p),
                             pointers<T>(s0), batch_sizes, zoneout_of<T>(z, B, H), maybe<T>(m), zoned,
                             [&] {
                               Out<T> out;
                               for (Tensor& t : states) out.push_back(t.data_ptr<T>());
                               return out;
                             }(),
                             keep ? saved.data_ptr<T>() : nullptr);
    });
    return std::make_tuple(states, saved);
  });
}

// -> (dL/d gates_x, dL/d gates_h (empty unless the cell keeps it apart), dL/d params,
//     dL/dh of every step (if keep_dh), dL/d state0, dL/dx (if w_ih is given)).
std::tuple<Tensor, Tensor, std::vector<Tensor>, Tensor, std::vector<Tensor>, Tensor> extended_backward(
    const std::string& cell, const Tensor& grad_y, at::TensorList grad_final, at::TensorList state0,
    at::TensorList states, const Tensor& saved, const std::optional<Tensor>& w_ih, const Tensor& w_hh,
    at::TensorList params, at::IntArrayRef batch_sizes, const std::optional<Tensor>& zoneout,
    const std::optional<Tensor>& mask, int64_t zoned, bool keep_dh) {
  const Tensor gy = grad_y.contiguous();
  check_inputs(gy, batch_sizes);
  const int64_t steps = gy.size(0), B = gy.size(1), H = state0[0].size(1);
  const bool full = all_full(batch_sizes, B);
  const Tensor w = w_hh.contiguous();
  const std::optional<Tensor> z = zoneout ? std::optional<Tensor>(zoneout->contiguous()) : std::nullopt;
  const std::optional<Tensor> m = mask ? std::optional<Tensor>(mask->contiguous()) : std::nullopt;
  const std::vector<Tensor> p = contiguous(params), s0 = contiguous(state0), all = contiguous(states);
  const std::optional<Tensor> wi = contiguous(w_ih);
  const int64_t I = w_ih ? w_ih->size(1) : 0;
  std::vector<int64_t> sizes;
  int64_t total = 0;
  for (const Tensor& t : p) total += sizes.emplace_back(t.numel());
  return with_cell(cell, [&](auto row) {
    using Cell = decltype(row);
    const int64_t G = Cell::gates * H;
    std::vector<Tensor> carry;
    for (const Tensor& g : grad_final) carry.push_back(g.contiguous().clone());
    Tensor d_gates_x = buffer({steps, B, G}, gy, full);
    Tensor d_gates_h = Cell::separate ? buffer({steps, B, G}, gy, full) : at::empty({0}, gy.options());
    Tensor d_h_all = keep_dh ? buffer({steps, B, H}, gy, full) : at::empty({0}, gy.options());
    Tensor d_x = w_ih ? buffer({steps, B, I}, gy, full) : at::empty({0}, gy.options());
    const int64_t threads = at::get_num_threads();
    Tensor d_params_all = at::zeros({threads, total}, gy.options());
    AT_DISPATCH_FLOATING_TYPES(gy.scalar_type(), "extended_backward", [&] {
      using T = scalar_t;
      Out<T> carry_p;
      for (Tensor& c : carry) carry_p.push_back(c.data_ptr<T>());
      backward_steps<T, Cell>(steps, B, I, H, gy.data_ptr<T>(), pointers<T>(s0), pointers<T>(all),
                              saved.data_ptr<T>(), maybe<T>(wi), w.data_ptr<T>(), pointers<T>(p), sizes, batch_sizes,
                              zoneout_of<T>(z, B, H), maybe<T>(m), zoned, carry_p, d_gates_x.data_ptr<T>(),
                              Cell::separate ? d_gates_h.data_ptr<T>() : nullptr,
                              keep_dh ? d_h_all.data_ptr<T>() : nullptr, w_ih ? d_x.data_ptr<T>() : nullptr,
                              d_params_all.data_ptr<T>(), total);
    });
    const Tensor summed = d_params_all.sum(0);
    std::vector<Tensor> d_params;
    int64_t offset = 0;
    for (size_t k = 0; k < p.size(); offset += sizes[k++]) d_params.push_back(summed.narrow(0, offset, sizes[k]).view_as(p[k]));
    return std::make_tuple(d_gates_x, d_gates_h, d_params, d_h_all, carry, d_x);
  });
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(rnnkit, m) {
  m.def(
      "extended_forward(str cell, Tensor x, Tensor w_ih, Tensor? b_ih, Tensor w_hh, Tensor? b_hh, Tensor[] params, "
      "Tensor[] state0, int[] batch_sizes, Tensor? zoneout, Tensor? mask, int zoned, bool keep) -> (Tensor[], Tensor)",
      &extended_forward);
  m.def(
      "extended_backward(str cell, Tensor grad_y, Tensor[] grad_final, Tensor[] state0, Tensor[] states, "
      "Tensor saved, Tensor? w_ih, Tensor w_hh, Tensor[] params, int[] batch_sizes, Tensor? zoneout, Tensor? mask, "
      "int zoned, bool keep_dh) -> (Tensor, Tensor, Tensor[], Tensor, Tensor[], Tensor)",
      &extended_backward);
}

}  // namespace rnnkit
