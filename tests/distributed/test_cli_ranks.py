"""``rnnkit train ... --nproc 2`` and torchrun, as a user runs them (real processes, gloo
on 127.0.0.1): the same model as one process for charlm (truncated BPTT), sentiment and
forecast; a rank killed with SIGKILL stops the others at once with its name; --resume
with the same or another number of processes; two "machines" (two torchrun launches)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

TIMEOUT = 180  # seconds any one command may take before the test fails
TINY = ["--hidden", "16", "--embedding-dim", "8", "--dropout", "0", "--quiet"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    words = "the quick brown fox jumps over a lazy dog while seven wizards hex vans".split()
    lines = (" ".join(rng.choice(words, size=10)) for _ in range(300))
    (tmp / "corpus.txt").write_text("\n".join(lines) + "\n")
    good = ["great fun", "a joy", "wonderful and warm", "truly great", "so much fun"]
    bad = ["dull", "a bore", "awful and cold", "truly awful", "so much noise"]
    rows = [f"{t},pos" for t in good * 5] + [f"{t},neg" for t in bad * 5]
    (tmp / "reviews.csv").write_text("text,label\n" + "\n".join(rows) + "\n")
    t = np.arange(60)
    sales = 20 + 0.2 * t + 3 * np.sin(2 * np.pi * t / 12)
    shop = (f"{2000 + k // 12}-{k % 12 + 1:02d},{sales[k]:.3f},{k % 5}\n" for k in range(60))
    (tmp / "shop.csv").write_text("date,sales,price\n" + "".join(shop))
    return tmp


def charlm(data: Path, epochs: int = 3) -> list[str]:
    """3 epochs: 231 steps, past charlm's first checkpoint (step 200)."""
    return ["charlm", "--data", str(data / "corpus.txt"), "--steps", "20", "--batch-size", "8",
            "--layers", "1", "--epochs", str(epochs), "--validate-chars", "500", *TINY]  # fmt: skip


TASKS = {
    "sentiment": lambda data: ["sentiment", "--data", str(data / "reviews.csv"), "--epochs", "3",
                               "--batch-size", "8", *TINY],  # fmt: skip
    "forecast": lambda data: ["forecast", "--data", str(data / "shop.csv"), "--target", "sales",
                              "--covariates", "price", "--horizon", "6", "--epochs", "3",
                              "--ensemble", "2", "--hidden", "8", "--dropout", "0",
                              "--quiet"],  # fmt: skip
}


def rnnkit(*argv: str, **popen) -> subprocess.CompletedProcess:
    return together([*argv], **popen)[0]


def together(*commands: list[str], **popen) -> list[subprocess.CompletedProcess]:
    """``rnnkit *argv`` for each command, all at once (starting torch takes most of a
    small run's time, and overlaps), each checked to succeed unless told otherwise."""
    running = [subprocess.Popen([sys.executable, "-m", "rnnkit", *argv], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, **popen)
               for argv in commands]  # fmt: skip
    done = []
    try:
        for process, argv in zip(running, commands, strict=True):
            out, err = process.communicate(timeout=TIMEOUT)
            done.append(subprocess.CompletedProcess(argv, process.returncode, out, err))
    finally:
        for process in running:
            if process.poll() is None:
                process.kill()
    return done


@pytest.fixture(scope="module")
def charlm_runs(tmp_path_factory, data) -> tuple[Path, Path]:
    """charlm trained by one process and by --nproc 2: (alone, pair)."""
    tmp = tmp_path_factory.mktemp("charlm")
    argv = ["train", *charlm(data)]
    one, two = tmp / "alone", tmp / "pair"
    alone, pair = together([*argv, "--out", str(one)], [*argv, "--out", str(two), "--nproc", "2"])
    assert alone.returncode == 0, alone.stderr[-2000:]
    assert pair.returncode == 0, pair.stderr[-2000:]
    (tmp / "alone.out").write_text(alone.stdout)
    (tmp / "pair.out").write_text(pair.stdout)
    return one, two


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "model.safetensors")


def assert_same_weights(a: Path, b: Path, atol: float) -> None:
    first, second = weights(a), weights(b)
    assert first.keys() == second.keys()
    for name in first:
        torch.testing.assert_close(second[name], first[name], rtol=0, atol=atol, msg=name)


def assert_same_runs(one: Path, two: Path, one_out: str, two_out: str) -> None:
    assert_same_weights(one, two, atol=1e-5)
    # Rank 0 alone prints, the same report (but for the run's name).
    assert two_out.replace(str(two), str(one)) == one_out
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())


@pytest.mark.parametrize("task", TASKS)
def test_two_processes_train_the_model_one_process_trains(tmp_path, data, task):
    argv, one, two = ["train", *TASKS[task](data)], tmp_path / "alone", tmp_path / "pair"
    alone, pair = together([*argv, "--out", str(one)], [*argv, "--out", str(two), "--nproc", "2"])
    assert alone.returncode == 0, alone.stderr[-2000:]
    assert pair.returncode == 0, pair.stderr[-2000:]
    assert_same_runs(one, two, alone.stdout, pair.stdout)


def test_two_processes_train_the_language_model_one_process_trains(charlm_runs):
    """Truncated BPTT: each rank carries the state of its own lanes."""
    one, two = charlm_runs
    outputs = (one.parent / "alone.out").read_text(), (one.parent / "pair.out").read_text()
    assert_same_runs(one, two, *outputs)


def test_a_killed_rank_stops_the_run_and_resume_ends_as_if_uninterrupted(tmp_path, data,
                                                                         charlm_runs):  # fmt: skip
    argv = ["train", *charlm(data), "--nproc", "2"]
    uninterrupted = charlm_runs[1]

    out = tmp_path / "killed"
    command = [sys.executable, "-m", "rnnkit", *argv, "--out", str(out)]
    env = {**os.environ, "RNNKIT_TEST_RUN": "pending"}  # marks the ranks' processes
    launcher = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env)  # fmt: skip
    try:
        deadline = time.monotonic() + TIMEOUT
        while not list(out.glob("ckpt-*.pt")):  # the first checkpoint, at step 200
            assert launcher.poll() is None and time.monotonic() < deadline, "no checkpoint"
            time.sleep(0.05)
        ranks = _ranks_of(launcher)
        killed_at = time.monotonic()
        os.kill(ranks[1], signal.SIGKILL)
        _, stderr = launcher.communicate(timeout=60)
        stopped_after = time.monotonic() - killed_at
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert stopped_after < 60 and launcher.returncode == 1
    assert "rank 1 of 2" in stderr and "SIGKILL" in stderr, stderr[-2000:]
    assert "Traceback" not in stderr
    assert not (out / "model.safetensors").exists()

    other = tmp_path / "resumed-alone"
    subprocess.run(["cp", "-r", str(out), str(other)], check=True)
    alone = [a for a in argv if a not in ("--nproc", "2")]  # another number of processes
    both = together([*argv, "--out", str(out), "--resume"],
                    [*alone, "--out", str(other), "--resume"])
    for resumed in both:
        assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert_same_weights(uninterrupted, out, atol=1e-6)
    assert_same_weights(uninterrupted, other, atol=1e-5)


def _ranks_of(launcher: subprocess.Popen) -> dict[int, int]:
    """Both ranks' pids: the workers' environment is the launcher's, marked "pending"."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == launcher.pid:
                continue
            try:
                pairs = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            env = dict(p.split(b"=", 1) for p in pairs if b"=" in p)
            if env.get(b"RNNKIT_TEST_RUN") == b"pending" and b"RANK" in env:
                found[int(env[b"RANK"])] = int(entry.name)
        if len(found) == 2:
            return found
        time.sleep(0.1)
    raise AssertionError(f"did not find both ranks' processes, found {found}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_machines_by_torchrun_train_the_model_one_process_trains(tmp_path, data,
                                                                    charlm_runs):  # fmt: skip
    """Two torchrun launches, each a "machine" of one process, meeting at a rendezvous on
    127.0.0.1, as on two hosts."""
    argv = ["train", *charlm(data)]
    endpoint = f"127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2",
               "--nproc-per-node", "1", "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint,
               "--rdzv-id", "rnnkit-test", "-m", "rnnkit", *argv, "--out",
               str(tmp_path / "two")]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    nodes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]  # fmt: skip
    try:
        outputs = [node.communicate(timeout=TIMEOUT) for node in nodes]
    finally:
        for node in nodes:
            if node.poll() is None:
                node.kill()
    assert [node.returncode for node in nodes] == [0, 0], [e[-1500:] for _, e in outputs]
    printed = [out for out, _ in outputs if out]
    assert len(printed) == 1  # the machine of rank 0
    assert_same_weights(charlm_runs[0], tmp_path / "two", atol=1e-5)


def test_bad_input_is_one_error_line_with_status_2(tmp_path, data):
    done = rnnkit("train", *charlm(data), "--nproc", "2", "--out", str(tmp_path / "run"),
                  "--lr", "-1")  # fmt: skip
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("rnnkit: error")]
    assert len(errors) == 1, done.stderr[-2000:]
    assert not (tmp_path / "run").exists()
