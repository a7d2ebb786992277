// A team of threads that runs a whole sequence loop in one parallel region. The threads
// split either the batch rows (independent sequences: they never wait for each other) or
// the hidden units (each thread computes its units' share of every per-step product and
// their pointwise part, and the team meets once per step at a barrier, since the next
// step's product reads every unit of the last one); `split_of` chooses.
//
// Why not at::parallel_for around each product and each pointwise pass: every call forks
// and joins the threads, which costs a few microseconds, about as much as a whole step of
// a small layer. Measured on the 2-core AMD EPYC, LSTM inference at (B,T,I,H) =
// (16,500,8,64): 2.2 ms with a fork and join per product and pass, 1.3 ms as one team
// split by units (torch.nn.LSTM on oneDNN: 2.0 ms); at (128,50,256,512) both ran at
// torch.nn's speed once each thread's product went over its columns in blocks that stay
// in its cache.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace rnnkit {

using at::Tensor;

// A thread's share [begin, end) of n columns or units.
struct Share {
  int64_t begin, end;
  int64_t size() const { return end - begin; }
};

// Thread `rank` of `threads` gets an equal share of n, cut on multiples of `align` (a
// vector's width, so that only the last share has a tail) when n allows it.
inline Share share_of(int64_t n, int64_t rank, int64_t threads, int64_t align) {
  const int64_t unit = n >= align * threads ? align : 1;
  auto cut = [&](int64_t r) { return r == threads ? n : n / unit * r / threads * unit; };
  return {cut(rank), cut(rank + 1)};
}

// How many threads a loop whose every step does `multiply_adds` should run on: below about
// 16K a step takes well under a microsecond, less than a barrier between two threads.
inline int64_t team_size(int64_t multiply_adds) {
  constexpr int64_t kMinPerStep = int64_t(1) << 14;
  return multiply_adds >= kMinPerStep ? at::get_num_threads() : 1;
}

// Runs body(rank, threads) on every thread of a team of up to `threads` (all of them in one
// parallel region; serially inside another parallel region or without OpenMP). The body
// must not throw: a thread leaving early would leave the others waiting at a barrier.
template <typename Body>
void run_team(int64_t threads, const Body& body) {
#ifdef _OPENMP
  if (threads > 1 && !omp_in_parallel()) {
#pragma omp parallel num_threads(threads)
    body(omp_get_thread_num(), omp_get_num_threads());
    return;
  }
#endif
  body(0, 1);
}

// Waits for every thread of the team (nothing to wait for outside a parallel region).
inline void team_barrier() {
#ifdef _OPENMP
#pragma omp barrier
#endif
}

// How a team divides a sequence loop between its threads. The sequences of a batch are
// independent, so threads that each own a share of the batch rows never wait for each
// other; each needs all of the weights, though, which suits small layers with a batch to
// share. Large layers, or batches too small to share, split the hidden units instead, and
// the team meets once per step (`barrier`).
struct Split {
  Share rows, units;
  bool by_rows;
  int64_t rank, threads;

  // A thread's share of n columns (of h, of x): all of them when split by rows.
  Share columns(int64_t n, int64_t align) const { return by_rows ? Share{0, n} : share_of(n, rank, threads, align); }
  // The thread's rows among the first `running` (those of the sequences still running).
  Share running(int64_t running) const { return {rows.begin, std::max(rows.begin, std::min(rows.end, running))}; }
  void barrier() const {
    if (!by_rows) team_barrier();
  }
};

// By rows when each thread gets at least 4 of them and the weights (`weight_floats`, which
// every thread then packs whole and reads every step) are at most 2 MB; by units otherwise.
// Where both apply, rows were as fast in a quiet moment and far steadier in a noisy one,
// as a barrier every step waits for a descheduled thread every step: LSTM inference at
// (64,100,128,256), three alternating runs of each, took 13.9-21.7 ms by units and
// 14.6-15.2 ms by rows.
inline Split split_of(int64_t batch, int64_t H, int64_t weight_floats, int64_t align, int64_t rank, int64_t threads) {
  constexpr int64_t kMinRows = 4, kMaxWeightFloats = 512 * 1024;
  const bool by_rows = threads > 1 && batch >= kMinRows * threads && weight_floats <= kMaxWeightFloats;
  if (by_rows) return {share_of(batch, rank, threads, 1), {0, H}, true, rank, threads};
  return {{0, batch}, share_of(H, rank, threads, align), false, rank, threads};
}

}  // namespace rnnkit
