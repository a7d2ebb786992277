// The weight gradients of a cell whose recurrent and input gates share dL/d gates (LSTM,
// Elman), in one pass over it once the backward loop is done:
//
//   [dL/dW_ih | dL/dW_hh | dL/db] = D.T @ [x_t | h_{t-1} | 1]     over all R = T * B rows,
//
// D = dL/d gates (R, G). D is the large operand (3-4x wider than x and h); the three
// separate reductions (two GEMMs and a sum) each read all of it.
//
// A GEMM library sees a transposed, very tall operand and a small result to split over
// threads. Here each thread owns a share of D's columns (G) and keeps its blocks of the
// result in its cache while chunks of rows go past; the narrow right-hand side is
// transposed once, V = [x | h_prev | 1].T (N, R), and each chunk of D is copied into a
// contiguous block (its rows lie G floats apart, in the same few cache sets).
#include "common.h"

namespace rnnkit {
namespace {

// out (M, N) = D.T @ V.T for D (R, M) and V (N, R), row-major.
template <typename T>
void contract_rows(const T* D, const T* V, int64_t R, int64_t M, int64_t N, T* out) {
  constexpr int64_t kRows = 512, kColumns = 64;
  run_team(team_size(R * M * N), [&](int64_t rank, int64_t threads) {
    const Share mine = share_of(M, rank, threads, kColumns);
    const int64_t blocks = (mine.size() + kColumns - 1) / kColumns;
    std::vector<T> chunk(kRows * kColumns);
    std::vector<T> acc(blocks * N * kColumns, T(0));  // the result's blocks, transposed: (N, 64) each
    for (int64_t r0 = 0; r0 < R; r0 += kRows) {
      const int64_t rows = std::min(kRows, R - r0);
      for (int64_t k = 0; k < blocks; ++k) {
        const int64_t c0 = mine.begin + k * kColumns, width = std::min(kColumns, mine.end - c0);
        for (int64_t r = 0; r < rows; ++r) std::copy_n(D + (r0 + r) * M + c0, width, chunk.data() + r * kColumns);
        gemm_rows(N, width, rows, V + r0, R, chunk.data(), kColumns, acc.data() + k * N * kColumns, kColumns,
                  /*accumulate=*/true);
      }
    }
    for (int64_t k = 0; k < blocks; ++k) {
      const int64_t c0 = mine.begin + k * kColumns, width = std::min(kColumns, mine.end - c0);
      const T* block = acc.data() + k * N * kColumns;
      for (int64_t c = 0; c < width; ++c) {
        for (int64_t n = 0; n < N; ++n) out[(c0 + c) * N + n] = block[n * kColumns + c];
      }
    }
    release_product();
  });
}

// d_gates (T, B, G), x (T, B, I), h0 (B, P), y (T, B, P): h_{t-1} is h0 for t = 0 and
// y[t - 1] after that. -> (dL/dW_ih (G, I), dL/dW_hh (G, P), dL/db (G) or empty).
std::tuple<Tensor, Tensor, Tensor> shared_gate_weight_gradients(const Tensor& d_gates, const Tensor& x,
                                                                const Tensor& h0, const Tensor& y, bool bias) {
  check_inputs(d_gates, std::vector<int64_t>(d_gates.size(0), d_gates.size(1)));
  const int64_t T = d_gates.size(0), B = d_gates.size(1), G = d_gates.size(2);
  const int64_t I = x.size(2), P = y.size(2), R = T * B;
  Tensor V = at::empty({I + P + (bias ? 1 : 0), R}, d_gates.options());
  V.narrow(0, 0, I).copy_(x.reshape({R, I}).t());
  Tensor h_prev = V.narrow(0, I, P);
  h_prev.narrow(1, 0, B).copy_(h0.t());
  h_prev.narrow(1, B, R - B).copy_(y.reshape({R, P}).narrow(0, 0, R - B).t());
  if (bias) V[I + P].fill_(1);
  Tensor out = at::empty({G, V.size(0)}, d_gates.options());
  AT_DISPATCH_FLOATING_TYPES(d_gates.scalar_type(), "shared_gate_weight_gradients", [&] {
    using S = scalar_t;
    contract_rows<S>(d_gates.data_ptr<S>(), V.data_ptr<S>(), R, G, V.size(0), out.data_ptr<S>());
  });
  return {out.narrow(1, 0, I).contiguous(), out.narrow(1, I, P).contiguous(),
          bias ? out.select(1, I + P).contiguous() : at::empty({0}, out.options())};
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(rnnkit, m) {
  m.def("shared_gate_weight_gradients(Tensor d_gates, Tensor x, Tensor h0, Tensor y, bool bias) "
        "-> (Tensor, Tensor, Tensor)",
        &shared_gate_weight_gradients);
}

}  // namespace rnnkit
