// A team of threads that runs a whole sequence loop: the hidden units are split over the
// threads, each thread computes its own units' share of every per-step product and their
// pointwise part, and the team meets once per step at a barrier (the next step's product
// reads every unit of the last one).
//
// Why not at::parallel_for around each product and each pointwise pass: every call forks
// and joins the threads, which costs a few microseconds, about as much as a whole step of
// a small layer. Measured on the 2-core AMD EPYC, LSTM inference at (B,T,I,H) =
// (16,500,8,64): 2.2 ms with a fork and join per product and pass, 1.3 ms as one team
// (torch.nn.LSTM on oneDNN: 2.0 ms); at (128,50,256,512) both ran at torch.nn's speed once
// each thread's product went over its columns in blocks that stay in its cache.
#pragma once

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

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

}  // namespace rnnkit
