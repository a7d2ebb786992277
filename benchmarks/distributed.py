"""Data-parallel training on this machine: ``rnnkit train charlm`` as one process with 2
threads against ``--nproc 2`` (two processes with 1 thread each), the gradient bytes a step
exchanges per model size, and gloo's all-reduce measured on loopback.

The machine has 2 cores, so two processes cannot beat one process that already uses both:
the point is that the data-parallel run computes the same thing, and what that costs. One
run, on 127.0.0.1 only, in a temporary directory, every phase bounded in time:

1. Throughput. ``rnnkit train charlm --data shakespeare --hidden H --layers 1
   --embedding-dim 128 --dropout 0 --batch-size 32 --steps 50 --time-budget 20s --quiet``
   as one process with ``OMP_NUM_THREADS=2`` (1x2) and with ``--nproc 2`` (2x1: each rank 16
   of the 32 rows, 1 thread (the launcher's cores // N), DDP over gloo). The two alternate,
   R rounds at H = 256, one round at H = 512. steps/s comes from the run's metrics.jsonl,
   whose step records carry the seconds since training began, so starting the processes,
   loading and tokenising the corpus and the final test score are all excluded: (last step -
   step W) / (its seconds - step W's seconds), the first W = 10 steps being warm-up; next to
   it the median interval between consecutive steps. Both setups train on the same global
   batches from the same seed with dropout 0, so their logged losses must agree step by step:
   the largest difference is reported, a correctness check.
2. Time to a fixed validation loss. The same model on a file holding a prefix of the
   shakespeare training text (rnnkit splits a file 80/10/10 by position; 400,000 characters
   give 200 steps per epoch and 40,000 validation characters), for E = 3 epochs (a
   ``--time-budget`` of 100 s caps each run), each setup once. The time is the ``seconds``
   of the first validation record at or below T = 2.55 bits per character (reached at the
   third epoch). The two validation curves are the same computation, summed in another
   order, so they agree to float rounding, ~1e-6: both are shown, epoch by epoch.
3. Gradient bytes (arithmetic). For charlm models with hidden 128 to 1024, 1 or 2 layers,
   embedding 128 and the shakespeare vocabulary: the parameters P (built in-process, shared
   weights counted once), float32 gradient bytes 4P, which DDP all-reduces every step, and
   what each rank sends per step in a ring all-reduce, 2(N-1)/N x 4P, for N = 2, 8, 64.
4. Loopback. Two processes (torch.multiprocessing spawn, gloo on tcp://127.0.0.1, 1 thread
   each) time ``dist.all_reduce`` of a float32 tensor of each model's gradient size and of
   2 float64 values, the size of the two tiny all-reduces the trainer adds to every step
   (the loss and whether it is finite; whether the time budget is spent); 3 warm-ups, then
   the median of 20 calls, each started after a barrier and timed as the slower rank saw
   it; GB/s = gradient bytes / time (for N = 2 also each rank's sent bytes per second).
   The same two processes then time one forward + backward of item 1's model on their 16
   rows, under DDP and under ``no_sync()`` (the same compute, no exchange), alternating:
   the difference is what the exchange adds to a step. Before them, this process alone
   times the same forward + backward on 32 rows with 2 threads and on 16 rows with 1
   thread (alternating), and for every model size of item 3 on 16 rows with 1 thread (1
   warm-up, median of 3): the compute per step item 5 compares with.
5. More machines (arithmetic, labelled so): item 3's bytes over a 10 Gb/s link
   (1.25e9 B/s) against item 4's measured compute per step.

The machine may be shared, and other work on its 2 cores slows both setups, 1x2 most (its
two OpenMP threads meet at a barrier after every parallel section, so a core taken by
someone else stalls both). So every measurement lists ``others``: the share of the cores
busy with work not of this benchmark while it ran (/proc/stat's busy time, steal
included, minus this process's and its children's CPU time, from ``getrusage``).

Run from the repository root::

    python benchmarks/distributed.py           # everything, writes results/distributed.md
    python benchmarks/distributed.py --quick   # smoke run: 1 round of 8 s, small corpus
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import resource
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.functional import cross_entropy
from torch.nn.parallel import DistributedDataParallel

from rnnkit.data import Tokenizer, load_data
from rnnkit.models import LanguageModel
from rnnkit.tasks.charlm import LanguageModelConfig, build_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import cpu_model, interleaved_medians, num, table, write_atomically  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "distributed.md"
PYTHON = sys.executable
HOST = "127.0.0.1"  # loopback only, always
SETUPS = {"1x2": (1, 2), "2x1": (2, 1)}  # name -> (processes, threads each)
ROWS, BPTT, EMBEDDING = 32, 50, 128  # global batch, truncated-BPTT length, embedding size
WARMUP_STEPS = 10  # step records before the steady-state rate is read
WARMUP_CALLS = 3
SIZES = [(hidden, layers) for hidden in (128, 256, 512, 1024) for layers in (1, 2)]
WORLDS = (2, 8, 64)
LINK = 1.25e9  # bytes per second of a 10 Gb/s link
SCALAR = 2  # float64 values of each small all-reduce the trainer makes per step
FIRST_LINE = re.compile(r"^(\d+) steps \(([^)]*)\)")


# -- how busy the machine was with other work ------------------------------------------------------


def cpu_clock() -> tuple[float, float, float]:
    """(wall s, machine busy CPU s, this process's and its waited-for children's CPU s).
    Busy = /proc/stat's user + nice + system + irq + softirq + steal over all cores."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    busy = (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # minus idle, iowait
    ours = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        ours += usage.ru_utime + usage.ru_stime
    return time.perf_counter(), busy, ours


def others_share(before: tuple[float, float, float]) -> float:
    """The share of the machine's cores that other processes (not this one, nor anything
    it started and waited for) kept busy since ``before``: 0 = none, 1 = all cores."""
    after = cpu_clock()
    wall, busy, ours = (a - b for a, b in zip(after, before, strict=True))
    return max(0.0, busy - ours) / (wall * (os.cpu_count() or 1))


def model_options(hidden: int) -> list[str]:
    return ["--hidden", str(hidden), "--layers", "1", "--embedding-dim", str(EMBEDDING),
            "--dropout", "0", "--batch-size", str(ROWS), "--steps", str(BPTT)]  # fmt: skip


# -- runs of `rnnkit train charlm` -----------------------------------------------------------------


@dataclass
class Run:
    """One ``rnnkit train charlm`` invocation, read back from its metrics.jsonl."""

    setup: str
    steps: list[dict]  # the step records
    validations: list[dict]  # the records with "validation"
    first_line: str  # "N steps (why it stopped)", as the command printed it
    others: float  # the share of the cores other processes kept busy during the run

    @property
    def rate(self) -> float | None:
        """Steps per second after the warm-up steps."""
        if len(self.steps) <= WARMUP_STEPS + 1:
            return None
        a, b = self.steps[WARMUP_STEPS], self.steps[-1]
        return (b["step"] - a["step"]) / (b["seconds"] - a["seconds"])

    @property
    def step_ms(self) -> float | None:
        """Median interval between consecutive step records after the warm-up, ms."""
        seconds = [r["seconds"] for r in self.steps[WARMUP_STEPS:]]
        gaps = [b - a for a, b in zip(seconds, seconds[1:])]
        return 1e3 * statistics.median(gaps) if gaps else None

    def first_at_or_below(self, threshold: float) -> dict | None:
        return next((r for r in self.validations if r["validation"] <= threshold), None)


def train(workdir: Path, name: str, setup: str, options: list[str], timeout: float) -> Run:
    """``rnnkit train charlm OPTIONS`` in ``setup``; its output in NAME.log. A failure raises
    with the exact command and the end of the log: a ``--nproc`` failure is rnnkit's to fix,
    not something to work around here."""
    processes, threads = SETUPS[setup]
    out, log = workdir / name, workdir / f"{name}.log"
    command = [PYTHON, "-m", "rnnkit", "train", "charlm", *options, "--quiet", "--out", str(out)]
    env = dict(os.environ)
    if processes == 1:
        env["OMP_NUM_THREADS"] = str(threads)
    else:  # the launcher gives each rank cores // N threads
        env.pop("OMP_NUM_THREADS", None)
        command += ["--nproc", str(processes)]
    before = cpu_clock()
    with open(log, "wb") as f:  # a new session: on a timeout the whole group goes
        process = subprocess.Popen(command, stdout=f, stderr=subprocess.STDOUT, env=env,
                                   stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            code = f"killed after {timeout:.0f} s"
    output = log.read_text(errors="replace")
    if code != 0:
        raise RuntimeError(f"`{shlex.join(command)}` failed ({code}):\n{output[-3000:]}")
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return Run(
        setup,
        [r for r in records if "loss" in r],
        [r for r in records if "validation" in r],
        next((m[0] for line in output.splitlines() if (m := FIRST_LINE.match(line))), "?"),
        others_share(before),
    )


def loss_gap(a: Run, b: Run) -> float | None:
    """The largest |loss difference| over the steps both runs logged."""
    losses = {r["step"]: r["loss"] for r in a.steps}
    gaps = [abs(losses[r["step"]] - r["loss"]) for r in b.steps if r["step"] in losses]
    return max(gaps) if gaps else None


def validation_gap(a: Run, b: Run) -> float | None:
    pairs = zip(a.validations, b.validations)
    gaps = [abs(x["validation"] - y["validation"]) for x, y in pairs]
    return max(gaps) if gaps else None


def measure_throughput(workdir: Path, hidden: int, rounds: int, budget: float) -> list[dict]:
    """R rounds of both setups, who goes first alternating -> one {setup: Run} per round."""
    options = ["--data", "shakespeare", *model_options(hidden), "--time-budget", f"{budget:g}s"]
    results = []
    for r in range(rounds):
        order = list(SETUPS) if r % 2 == 0 else list(SETUPS)[::-1]
        runs = {}
        for setup in order:
            runs[setup] = train(workdir, f"speed-h{hidden}-{r}-{setup}", setup, options,
                                timeout=budget + 300)  # fmt: skip
            print(f"throughput H={hidden} round {r + 1}/{rounds} {setup}: "
                  f"{num(runs[setup].rate, 1)} steps/s", file=sys.stderr)  # fmt: skip
        results.append(runs)
    return results


def write_corpus_prefix(path: Path, chars: int) -> int:
    """The first ``chars`` characters of the shakespeare training text into ``path``; ->
    the whole corpus's vocabulary size (the named set's, for the model sizes)."""
    corpus = load_data("shakespeare", "charlm", 0)
    path.write_text(corpus.train[:chars], encoding="utf-8")
    return len(Tokenizer.fit([corpus.train], "char"))


def measure_time_to_loss(
    workdir: Path, corpus: Path, hidden: int, epochs: int, cap: float
) -> dict[str, Run]:
    options = ["--data", str(corpus), *model_options(hidden), "--epochs", str(epochs),
               "--time-budget", f"{cap:g}s"]  # fmt: skip
    runs = {}
    for setup in SETUPS:
        runs[setup] = train(workdir, f"loss-{setup}", setup, options, timeout=cap + 300)
        print(f"time to loss {setup}: {len(runs[setup].validations)} epochs", file=sys.stderr)
    return runs


# -- forward + backward in this process and in two gloo processes ----------------------------------


def charlm(hidden: int, layers: int, vocabulary: int) -> LanguageModel:
    settings = asdict(LanguageModelConfig())
    settings.update(hidden=hidden, layers=layers, embedding_dim=EMBEDDING, dropout=0.0)
    return build_model(settings, vocabulary)


def parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)  # shared: once


def random_batch(rows: int, vocabulary: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids (rows, BPTT) and next-token targets; 0 and 1 are <pad> and <unk>."""
    ids = torch.randint(2, vocabulary, (rows, BPTT + 1))
    return ids[:, :-1], ids[:, 1:]


def forward_backward(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    logits, _ = model(x)  # (B, T, V)
    cross_entropy(logits.flatten(0, 1), y.flatten()).backward()


def local_step(
    model: LanguageModel, rows: int, threads: int, vocabulary: int
) -> Callable[[], float]:
    """A call: one forward + backward on ``rows`` rows with ``threads`` threads -> ms."""
    x, y = random_batch(rows, vocabulary)

    def run() -> float:
        torch.set_num_threads(threads)  # untimed
        start = time.perf_counter()
        forward_backward(model, x, y)
        elapsed = time.perf_counter() - start
        model.zero_grad(set_to_none=True)
        return elapsed * 1e3

    return run


def alternating(
    calls: dict[str, Callable[[], float]], repeats: int, warmup: int
) -> dict[str, float]:
    """Median ms of each call, who goes first rotating (speed.py's interleaved_medians)."""
    as_lists = {name: (lambda call=call: [call()]) for name, call in calls.items()}
    return interleaved_medians(as_lists, repeats, warmup)


def measure_local(vocabulary: int, hiddens: list[int], sizes, repeats: int) -> dict:
    """This process alone: 1x2 on all rows against 1 thread on half of them (item 1's
    models); and per model size, 1 thread on half the rows (item 5)."""
    threads, before = torch.get_num_threads(), cpu_clock()
    torch.manual_seed(0)
    breakdown = {}
    for hidden in hiddens:
        model = charlm(hidden, 1, vocabulary)
        calls = {"1x2": local_step(model, ROWS, 2, vocabulary),
                 "1x1": local_step(model, ROWS // 2, 1, vocabulary)}  # fmt: skip
        breakdown[hidden] = alternating(calls, repeats, WARMUP_CALLS)
    compute = {}
    for hidden, layers in sizes:
        step = local_step(charlm(hidden, layers, vocabulary), ROWS // 2, 1, vocabulary)
        compute[hidden, layers] = alternating({"1x1": step}, 3, warmup=1)["1x1"]
        print(f"compute H={hidden} L={layers}: {compute[hidden, layers]:.0f} ms", file=sys.stderr)
    torch.set_num_threads(threads)
    return {"breakdown": breakdown, "compute": compute, "others": others_share(before)}


def slowest_rank(calls: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    """In a gloo group: median ms of each call, run in rounds (who goes first rotating),
    each call after a barrier and timed as the slower rank saw it."""
    names = list(calls)
    for _ in range(WARMUP_CALLS):
        for name in names:
            calls[name]()
    times = torch.zeros(len(names), repeats, dtype=torch.float64)
    for r in range(repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            dist.barrier()
            start = time.perf_counter()
            calls[name]()
            times[names.index(name), r] = (time.perf_counter() - start) * 1e3
    dist.all_reduce(times, op=dist.ReduceOp.MAX)
    return {name: statistics.median(times[k].tolist()) for k, name in enumerate(names)}


def loopback_worker(rank: int, port: int, plan: dict, answer: str) -> None:
    """One of the two spawned processes: item 4. Rank 0 writes the answer (JSON)."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://{HOST}:{port}", rank=rank, world_size=2,
                            timeout=datetime.timedelta(seconds=120))  # never a hang
    try:
        sizes = {"scalar": torch.zeros(SCALAR, dtype=torch.float64)}
        sizes |= {str(n): torch.zeros(n) for n in plan["numels"]}
        calls = {name: (lambda t=t: dist.all_reduce(t)) for name, t in sizes.items()}
        reduce_ms = {name: slowest_rank({name: call}, plan["repeats"])[name]
                     for name, call in calls.items()}  # fmt: skip
        steps = {}
        for hidden in plan["hiddens"]:
            torch.manual_seed(0)  # the same weights on both (DDP broadcasts rank 0's anyway)
            model = charlm(hidden, 1, plan["vocabulary"])
            ddp = DistributedDataParallel(model)
            torch.manual_seed(1 + rank)  # each rank its own rows
            x, y = random_batch(ROWS // 2, plan["vocabulary"])

            def synced(ddp=ddp, model=model, x=x, y=y) -> None:
                forward_backward(ddp, x, y)  # DDP all-reduces the gradients in backward
                model.zero_grad(set_to_none=True)

            def alone(ddp=ddp, model=model, x=x, y=y) -> None:
                with ddp.no_sync():
                    forward_backward(ddp, x, y)
                model.zero_grad(set_to_none=True)

            steps[hidden] = slowest_rank({"ddp": synced, "no_sync": alone}, plan["repeats"])
        if rank == 0:
            Path(answer).write_text(json.dumps({"all_reduce": reduce_ms, "steps": steps}))
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def measure_loopback(workdir: Path, plan: dict) -> dict:
    answer, before = workdir / "loopback.json", cpu_clock()
    mp.spawn(loopback_worker, args=(free_port(), plan, str(answer)), nprocs=2, join=True)
    found = json.loads(answer.read_text())
    steps = {int(h): value for h, value in found["steps"].items()}
    return {"all_reduce": found["all_reduce"], "steps": steps, "others": others_share(before)}


# -- report ----------------------------------------------------------------------------------------


def median_of(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ratio(top: float | None, bottom: float | None) -> str:
    return "n/a" if top is None or bottom is None or bottom <= 0 else f"{top / bottom:.2f}"


def sci(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1e}"


def mb(numel: int) -> str:
    return f"{4 * numel / 1e6:.2f}"


def percent(share: float | None) -> str:
    return "n/a" if share is None else f"{100 * share:.0f} %"


def render_header(
    loads: tuple[float, float], others: float, wall: float, quick: bool
) -> list[str]:
    command = "python " + shlex.join([os.path.relpath(sys.argv[0])] + sys.argv[1:])
    mode = " (--quick: a smoke run, not a measurement)" if quick else ""
    return [
        "# Data-parallel training on one 2-core machine: 1 process x 2 threads vs "
        "2 processes x 1 thread",
        "",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- torch {torch.__version__}, gloo on 127.0.0.1",
        f"- CPU: {cpu_model()} ({os.cpu_count()} logical cores); load average (1 min) "
        f"{loads[0]:.2f} at start, {loads[1]:.2f} at the end",
        f"- the machine is shared: other processes kept **{percent(others)}** of its cores "
        "busy over the whole run (/proc/stat's busy time minus this benchmark's own CPU "
        "time, steal included); each measurement below lists that share for its own "
        "duration (`others`). Timings move with it, 1x2's most: its two OpenMP threads meet "
        "at a barrier after every parallel section, so a core taken by other work stalls both",
        f"- command: `{command}`{mode} (whole run: {wall:.0f} s)",
        "- 1x2 = one process, `OMP_NUM_THREADS=2`, all 32 rows of each batch; 2x1 = "
        "`rnnkit train ... --nproc 2`: two processes, 1 thread each, 16 rows each, DDP "
        "(gloo). Same global batches, seed and weights: a data-parallel run equals one "
        "process's run, so on 2 cores the question is correctness and overhead, not speed-up",
        f"- charlm model: LSTM, 1 layer, embedding {EMBEDDING}, dropout 0, batch {ROWS} x "
        f"{BPTT} characters (truncated BPTT), AdamW lr 2e-3, gradient clipping at 1.0 "
        "(rnnkit's defaults)",
    ]


def render_throughput(results: dict[int, list[dict]], budget: float) -> list[str]:
    rows, lines = [], []
    for hidden, rounds in results.items():
        medians = {}
        for setup in SETUPS:
            runs = [r[setup] for r in rounds]
            medians[setup] = median_of([run.rate for run in runs])
            rows.append([str(hidden), setup, " / ".join(num(run.rate, 1) for run in runs),
                         f"**{num(medians[setup], 1)}**",
                         num(median_of([run.step_ms for run in runs]), 1),
                         " / ".join(str(len(run.steps)) for run in runs),
                         " / ".join(percent(run.others) for run in runs)])  # fmt: skip
        gap = max((g for r in rounds if (g := loss_gap(r["1x2"], r["2x1"])) is not None),
                  default=None)  # fmt: skip
        speedup = ratio(medians["2x1"], medians["1x2"])
        lines.append(f"- H = {hidden}: 2x1 / 1x2 steps/s = **{speedup}**"
                     f"; largest |loss difference| at the same step, over all rounds: "
                     f"{sci(gap)}")  # fmt: skip
    head = ["hidden", "setup", "steps/s per round", "median steps/s", "median ms/step",
            "steps per round", "others per round"]  # fmt: skip
    return [
        "",
        "## 1. Training throughput (full shakespeare corpus)",
        "",
        f"`rnnkit train charlm --data shakespeare ... --time-budget {budget:g}s`, the two "
        "setups alternating (who goes first too). steps/s = (last step - step "
        f"{WARMUP_STEPS}) / (their `seconds` difference) from metrics.jsonl: training "
        "time only (no start-up, loading or final test score); ms/step = median interval "
        "between consecutive step records. A step is the trainer's whole step: forward, "
        "backward, the gradient all-reduce (2x1), clipping, AdamW, two small all-reduces "
        "that keep the ranks agreed (2x1), and a checkpoint every 200 steps.",
        *table(head, rows, text_columns=2),
        "",
        *lines,
    ]


def render_time_to_loss(runs: dict[str, Run], args: argparse.Namespace) -> list[str]:
    a, b = runs["1x2"], runs["2x1"]
    rows = []
    for k in range(max(len(a.validations), len(b.validations))):
        x, y = (run.validations[k] if k < len(run.validations) else None for run in (a, b))
        both = x is not None and y is not None
        rows.append([str((x or y)["epoch"]), str((x or y)["step"]),
                     num(x and x["validation"], 6), num(y and y["validation"], 6),
                     sci(abs(x["validation"] - y["validation"]) if both else None),
                     num(x and x["seconds"], 1), num(y and y["seconds"], 1)])  # fmt: skip
    head = ["epoch", "step", "1x2 bits/char", "2x1 bits/char", "|difference|", "1x2 seconds",
            "2x1 seconds"]  # fmt: skip
    reached = {setup: run.first_at_or_below(args.threshold) for setup, run in runs.items()}
    if all(reached.values()):
        ra, rb = reached["1x2"], reached["2x1"]
        verdict = (f"First validation at or below **{args.threshold:g}** bits/char: epoch "
                   f"{ra['epoch']} (1x2) and epoch {rb['epoch']} (2x1), after "
                   f"**{ra['seconds']:.1f} s** (1x2) and **{rb['seconds']:.1f} s** (2x1) of "
                   f"training: 2x1 takes **{ratio(rb['seconds'], ra['seconds'])}x** the "
                   "time.")  # fmt: skip
    else:
        missing = ", ".join(s for s, r in reached.items() if r is None)
        verdict = (f"The threshold {args.threshold:g} bits/char was not reached (within "
                   f"{args.epochs} epochs or {args.cap:g} s) by: {missing}.")  # fmt: skip
    finals = ", ".join(f"{setup} {num(run.validations[-1]['validation'], 6)}"
                       for setup, run in runs.items() if run.validations)  # fmt: skip
    return [
        "",
        "## 2. Time to a fixed validation loss",
        "",
        f"The first {args.corpus_chars:,} characters of the shakespeare training text in a "
        "file (rnnkit splits it by position: 80 % training, 10 % validation), `--epochs "
        f"{args.epochs} --time-budget {args.cap:g}s` (a cap), each setup once (1x2 first); "
        "validation bits per character after each epoch and the `seconds` of that record "
        "(training time of this run, validations included). The two runs are the same "
        "computation, summed in another order: their curves agree to "
        f"{sci(validation_gap(a, b))} (largest difference). Final bits/char: {finals}. "
        f"The runs said: 1x2 \"{a.first_line}\", 2x1 \"{b.first_line}\". "
        f"others: 1x2 {percent(a.others)}, 2x1 {percent(b.others)}.",
        *table(head, rows, text_columns=2),
        "",
        verdict,
    ]


def render_bytes(numels: dict, reduce_ms: dict) -> list[str]:
    rows = []
    for (hidden, layers), n in numels.items():
        sent = [num(2 * (w - 1) / w * 4 * n / 1e6) for w in WORLDS]
        ms = reduce_ms.get(str(n))
        rate = 4 * n / ms / 1e6 if ms else None
        rows.append([str(hidden), str(layers), f"{n:,}", mb(n), *sent, num(ms), num(rate)])
    head = ["hidden", "layers", "parameters", "gradient MB",
            *[f"sent/rank MB, N={w}" for w in WORLDS],
            "loopback all-reduce ms (N=2)", "GB/s"]  # fmt: skip
    return [
        "",
        "## 3-4. Gradient bytes per step, and all-reduce measured on loopback",
        "",
        "Parameters of the charlm model (embedding 128, shakespeare's vocabulary); gradient "
        "MB = 4 bytes x parameters (float32), what DDP all-reduces every step. sent/rank = "
        "2(N-1)/N x gradient bytes, what each of N ranks sends (and receives) per step in a "
        "ring all-reduce (arithmetic). Measured: `dist.all_reduce` of a float32 tensor of "
        "that size between 2 gloo processes on 127.0.0.1, 1 thread each, median of the "
        "slower rank's time; GB/s = gradient bytes / time (for N = 2 = sent bytes / time). "
        "Loopback is memory copies and the kernel's TCP stack, not a network. An all-reduce "
        "of 2 float64 values, the size of the two tiny ones the trainer adds to every step "
        f"(agreeing on the loss and on the time budget), takes **{num(reduce_ms.get('scalar'), 3)} "
        "ms**.",
        *table(head, rows, text_columns=2),
    ]


def render_breakdown(local: dict, loopback: dict, numels: dict, throughput: dict) -> list[str]:
    rows, notes = [], []
    for hidden, measured in loopback["steps"].items():
        one_by_two, one_by_one = (local["breakdown"][hidden][s] for s in ("1x2", "1x1"))
        ddp, no_sync = measured["ddp"], measured["no_sync"]
        exchange = loopback["all_reduce"].get(str(numels[hidden, 1]))
        cli = {s: median_of([r[s].step_ms for r in throughput.get(hidden, [])]) for s in SETUPS}
        rows.append([str(hidden), num(one_by_two, 1), num(one_by_one, 1), num(no_sync, 1),
                     num(ddp, 1), num(ddp - no_sync, 1), num(exchange, 1), num(cli["1x2"], 1),
                     num(cli["2x1"], 1)])  # fmt: skip
        note = (f"- H = {hidden}: DDP adds **{num(ddp - no_sync, 1)} ms** to a forward + "
                f"backward of {num(no_sync, 1)} ms; the all-reduce of its gradient alone takes "
                f"{num(exchange, 1)} ms. Two ranks computing at once (no_sync) take "
                f"{ratio(no_sync, one_by_one)}x the time of one rank alone on the same 16 rows; "
                f"1x2 on 32 rows takes {ratio(one_by_two, no_sync)}x 2x1's no_sync.")  # fmt: skip
        if cli["2x1"]:
            note += (f" In the trainer's 2x1 step of {num(cli['2x1'], 1)} ms (item 1) that is "
                     f"{num(100 * (ddp - no_sync) / cli['2x1'], 0)} % for DDP, "
                     f"{num(100 * exchange / cli['2x1'], 0)} % for the all-reduce alone.")
        notes.append(note)
    head = ["hidden", "1x2: 32 rows, 2 threads", "1x1: 16 rows, alone",
            "2x1 no_sync: 16 rows each", "2x1 DDP", "DDP - no_sync", "gradient all-reduce alone",
            "trainer step 1x2 (item 1)", "trainer step 2x1 (item 1)"]  # fmt: skip
    return [
        "",
        "## 4. Where a step's time goes (ms)",
        "",
        "One forward + backward (no optimiser) of item 1's model on random tokens, median. "
        "1x2 and 1x1 in this process alone, alternating (others: "
        f"{percent(local['others'])}, over this and item 5's compute column); 2x1 in the two "
        "spawned gloo processes, under DDP and under `no_sync()` (the same compute, no "
        "exchange), alternating, each timed as the slower rank saw it (others: "
        f"{percent(loopback['others'])}, over the all-reduces too). The gradient all-reduce "
        "is item 3's measurement; the last two columns are item 1's median interval between "
        "trainer steps (all a step does).",
        *table(head, rows),
        "",
        *notes,
    ]


def render_more_machines(numels: dict, local: dict, reduce_ms: dict) -> list[str]:
    rows, ratios = [], {}
    for (hidden, layers), n in numels.items():
        compute = local["compute"].get((hidden, layers))
        link = {w: 2 * (w - 1) / w * 4 * n / LINK * 1e3 for w in WORLDS}
        if compute:
            ratios[hidden, layers] = link[WORLDS[-1]] / compute
        rows.append([str(hidden), str(layers), mb(n), num(compute, 0),
                     *[num(link[w], 1) for w in WORLDS],
                     ratio(link[WORLDS[-1]], compute)])  # fmt: skip
    head = ["hidden", "layers", "gradient MB", "compute ms (measured: 16 rows, 1 thread)",
            *[f"ring at 10 Gb/s ms, N={w}" for w in WORLDS],
            f"N={WORLDS[-1]} exchange / compute"]  # fmt: skip
    return [
        "",
        "## 5. What to expect on more machines (arithmetic from the numbers above)",
        "",
        "Per step, each rank computing a forward + backward on 16 rows (a global batch of "
        "16 N): compute = this CPU's measured time on one core (item 4, no optimiser); ring "
        f"at 10 Gb/s = 2(N-1)/N x gradient bytes / {LINK:.3g} B/s (arithmetic: bandwidth "
        "only, no latency, no overlap).",
        *table(head, rows, text_columns=2),
        "",
        *more_machines_text(numels, ratios, local["compute"], reduce_ms),
    ]


def more_machines_text(numels: dict, ratios: dict, compute: dict, reduce_ms: dict) -> list[str]:
    """The paragraph under item 5's table, from its numbers."""
    if not ratios:
        return []
    small, large = min(numels, key=numels.get), max(numels, key=numels.get)
    low, high = min(ratios, key=ratios.get), max(ratios, key=ratios.get)
    speeds = [4 * int(k) / ms / 1e6 for k, ms in reduce_ms.items() if k != "scalar" and ms]
    over = [f"H = {h}, {n} layer{'s' * (n > 1)}" for (h, n), r in ratios.items() if r >= 0.5]

    def model(size: tuple[int, int]) -> str:
        return f"H = {size[0]}, {size[1]} layer{'s' * (size[1] > 1)}, {mb(numels[size])} MB"

    verdict = (f"It reaches half the compute or more for {'; '.join(over)}: there the "
               "exchange would cost a large share of each step unless DDP hides it behind "
               "the backward pass, and a faster link or more rows per rank would be needed."
               if over else
               "It stays under half the compute for every size here, so by this arithmetic "
               "the exchange would not dominate a step of 16 rows per rank on cores like "
               "these.")  # fmt: skip
    return [
        "Arithmetic, not measured. A ring all-reduce makes each of N ranks send 2(N-1)/N x "
        "the gradient bytes per step, close to 2 x 4P bytes for P parameters and large N: "
        f"at 10 Gb/s about 8P / {LINK:.3g} s, from "
        f"{num(8 * numels[small] / LINK * 1e3, 1)} ms ({model(small)}) to "
        f"{num(8 * numels[large] / LINK * 1e3, 0)} ms ({model(large)}) per step. One core of "
        f"this CPU computes such a step on 16 rows in {num(compute.get(small), 0)} ms and "
        f"{num(compute.get(large), 0)} ms respectively, so the N={WORLDS[-1]} exchange is "
        f"{num(100 * ratios[low], 0)} % ({model(low)}) to {num(100 * ratios[high], 0)} % "
        f"({model(high)}) of the compute. {verdict} The compute grows with the rows per "
        "rank and shrinks on faster cores (or a GPU), the exchange does not: the ratio rises "
        "as each rank gets faster. On loopback the fastest all-reduce here moved "
        f"{num(max(speeds) if speeds else None)} GB/s of gradient, against {LINK / 1e9:.2f} "
        "GB/s for a 10 Gb/s link; loopback says nothing about a real network's latency.",
    ]


# -- main ------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--hidden", type=int, default=256, help="item 1's hidden size (and item 2's)")
    add("--extra-hidden", type=int, default=512, help="a second hidden size, one round; 0: none")
    add("--rounds", type=int, help="throughput rounds at --hidden (default 3, quick 1)")
    add("--budget", type=float, help="seconds of each throughput run (default 20, quick 8)")
    add("--corpus-chars", type=int, help="item 2's corpus prefix (default 400000, quick 150000)")
    add("--epochs", type=int, help="item 2's epochs (default 3, quick 2)")
    add("--threshold", type=float, help="item 2's bits/char (default 2.55, quick 3.0)")
    add("--cap", type=float, help="item 2's time budget per run, s (default 100, quick 40)")
    add("--repeats", type=int, help="timed calls per measurement of item 4 (default 20, quick 5)")
    add("--out", type=Path, default=DEFAULT_OUT, help="markdown output path")
    add("--quick", action="store_true", help="smoke run: 1 round of 8 s, no second size, "
        "a small corpus, the two smallest hidden sizes in items 3-5")  # fmt: skip
    args = parser.parse_args()
    defaults = {"rounds": (3, 1), "budget": (20.0, 8.0), "corpus_chars": (400_000, 150_000),
                "epochs": (3, 2), "threshold": (2.55, 3.0), "cap": (100.0, 40.0),
                "repeats": (20, 5)}  # fmt: skip
    for name, (full, quick) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    if args.quick:
        args.extra_hidden = 0
    return args


def main() -> None:
    args = parse_args()
    load_at_start, start, before = os.getloadavg()[0], time.perf_counter(), cpu_clock()
    sizes = SIZES[:4] if args.quick else SIZES
    hiddens = [args.hidden] + ([args.extra_hidden] if args.extra_hidden else [])
    with tempfile.TemporaryDirectory(prefix="rnnkit-distributed-bench-") as directory:
        workdir = Path(directory)
        corpus = workdir / "shakespeare-prefix.txt"
        vocabulary = write_corpus_prefix(corpus, args.corpus_chars)
        throughput = {
            args.hidden: measure_throughput(workdir, args.hidden, args.rounds, args.budget)
        }
        if args.extra_hidden:
            throughput[args.extra_hidden] = measure_throughput(workdir, args.extra_hidden, 1,
                                                               args.budget)  # fmt: skip
        loss_runs = measure_time_to_loss(workdir, corpus, args.hidden, args.epochs, args.cap)
        numels = {(h, l): parameters(charlm(h, l, vocabulary)) for h, l in sizes}
        numels |= {(h, 1): parameters(charlm(h, 1, vocabulary)) for h in hiddens}
        local = measure_local(vocabulary, hiddens, sizes, args.repeats)
        plan = {"numels": sorted(set(numels.values())), "hiddens": hiddens,
                "vocabulary": vocabulary, "repeats": args.repeats}  # fmt: skip
        loopback = measure_loopback(workdir, plan)
    loads, others = (load_at_start, os.getloadavg()[0]), others_share(before)
    table_numels = {size: numels[size] for size in sizes}
    lines = render_header(loads, others, time.perf_counter() - start, args.quick)
    lines += render_throughput(throughput, args.budget)
    lines += render_time_to_loss(loss_runs, args)
    lines += render_bytes(table_numels, loopback["all_reduce"])
    lines += render_breakdown(local, loopback, numels, throughput)
    lines += render_more_machines(table_numels, local, loopback["all_reduce"])
    text = "\n".join(lines) + "\n"
    print(text, end="")
    write_atomically(args.out, text)
    print(f"\nwritten to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
