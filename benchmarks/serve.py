"""Throughput, latency and memory of ``rnnkit serve``: sentiment predictions with and without
micro-batching, and many concurrent online (WebSocket) sessions.

One run, on loopback (127.0.0.1) only, every phase bounded in requests and time:

1. Trains a small sentiment run (``rnnkit train sentiment --data mr --hidden 128
   --time-budget 30s``; the named data set loads offline), or reuses ``--run DIR``.
2. Predict: two servers, micro-batching on (``--max-batch 64 --max-delay-ms 1``, the defaults) and off
   (``--max-batch 1``), both up for the whole phase so that their rounds can alternate and
   machine drift affects both alike. For 1, 8, 32 and 128 concurrent clients, each client
   on its own keep-alive connection sends ``POST /v1/models/NAME/predict`` with a short
   text (a different one each request) and waits for the answer before sending the next,
   for a fixed time or a fixed number of requests, whichever comes first. Rounds rotate
   over (clients, server); throughput (2xx answers per second) is the median over rounds,
   p50/p99 latency is over every request of every round.
3. Sessions: a fresh batching server per level (a clean memory baseline, and no session of
   an earlier level counting against the cap of 10,000), 100, 1,000 and 10,000 WebSocket
   sessions opened concurrently on ``/v1/models/NAME/stream``; each sends a few words, one
   at a time, each reply awaited. The server's VmRSS is read before opening, and again
   with every session open and idle after its steps (the session holds its cell state by
   then): the difference over the sessions held is KB per idle session.

The client is this one Python process on an asyncio loop, with a minimal HTTP/1.1
keep-alive client written for the purpose (a request is one write and two reads, far less
client CPU than httpx's per request) and the ``websockets`` client for sessions. It shares
the machine's cores with the server: its CPU time and the server's are reported next to
each result, so that a reader can see how much of the machine the client took.

Run from the repository root::

    python benchmarks/serve.py             # everything, writes benchmarks/results/serve.md
    python benchmarks/serve.py --quick     # smoke run: 1 and 8 clients, 100 sessions
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib.util
import json
import os
import resource
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import numpy as np
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import cpu_model, num, table, write_atomically  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "serve.md"
PYTHON = sys.executable
HOST = "127.0.0.1"  # loopback only, always
BATCHING = {"on": ["--max-batch", "64", "--max-delay-ms", "1"], "off": ["--max-batch", "1"]}
CLIENTS, QUICK_CLIENTS = (1, 8, 32, 128), (1, 8)
# (sessions, steps each, seconds between a session's words: 0 = next word on the reply)
SESSIONS = ((100, 10, 0.0), (1_000, 10, 0.0), (1_000, 20, 0.5), (10_000, 3, 0.0))
QUICK_SESSIONS = ((100, 10, 0.0), (100, 10, 0.5))
OPENING = 256  # handshakes in flight at once: well under uvicorn's listen backlog of 2048
TIMEOUT = 60.0  # seconds any one request, handshake or reply may take before it is an error
# targets of the server issue
RATIO_TARGET, RPS_TARGET, P99_TARGET = 3.0, 500.0, 100.0  # at 32 clients
TARGET_CLIENTS = 32
SESSION_P99_TARGET, SESSION_P99_AT = 20.0, 1_000  # ms per step
KB_TARGET, HELD_TARGET = 50.0, 10_000

WORDS = (
    "a fun , moving film with a sharp script and fine acting but the plot is thin "
    "dull boring slow and too long ; a warm funny charming story , beautifully shot , "
    "yet the ending feels cheap and the jokes fall flat . one of the best movies this year "
    "an awful mess of a movie that never finds its heart , wonderful performances"
).split()


def text(k: int) -> str:
    """The k-th request's text: 4 to 12 words of movie-review vocabulary, different for
    each k, so that no layer can answer from a cache."""
    n = 4 + k % 9
    return " ".join(WORDS[(k * 7 + 3 * i * i) % len(WORDS)] for i in range(n))


# -- the server ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def raise_fd_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit, for this process and the servers it starts
    (they inherit it): 10,000 sessions are 10,000 sockets on each side."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else 1 << 20
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass
class Server:
    """``rnnkit serve`` in a subprocess, its output in a log file (never an unread pipe)."""

    run: Path
    options: list[str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def command(self) -> list[str]:
        return [PYTHON, "-m", "rnnkit", "serve", str(self.run), "--host", HOST,
                "--port", str(self.port), *self.options]  # fmt: skip

    def start(self, seconds: float = 120.0) -> Server:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited ({self.process.returncode}); see {self.log}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the server did not answer /healthz in {seconds:g} s; see {self.log}")

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS in /proc/PID/status")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server so far (all its threads)."""
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def fd_limit(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                return int(line.split()[3])
        return -1

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # uvicorn drains and closes the models
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def train(workdir: Path, quiet_log: Path) -> Path:
    """A small sentiment run of its own, so that the benchmark needs nothing but itself."""
    out = workdir / "sentiment"
    command = [PYTHON, "-m", "rnnkit", "train", "sentiment", "--data", "mr", "--hidden", "128",
               "--time-budget", "30s", "--out", str(out), "--quiet"]  # fmt: skip
    with open(quiet_log, "ab") as log:
        subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True, timeout=300)
    return out


def client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- predict ---------------------------------------------------------------------------------------


class Http:
    """One keep-alive HTTP/1.1 connection: a request is one write, its answer two reads
    (headers, then Content-Length bytes). The server (h11) always sends Content-Length."""

    def __init__(self, port: int, path: str) -> None:
        self.port, self.path = port, path
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port)

    async def post(self, body: bytes) -> int:
        """POST the JSON body -> the status code (the answer is read and dropped)."""
        if self.writer is None:
            await self.open()
        head = (f"POST {self.path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json"
                f"\r\nContent-Length: {len(body)}\r\n\r\n").encode()  # fmt: skip
        self.writer.write(head + body)
        headers = await self.reader.readuntil(b"\r\n\r\n")
        lines = headers.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next(int(v) for k, _, v in (x.partition(":") for x in lines[1:])
                      if k.lower() == "content-length")  # fmt: skip
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


@dataclass
class Round:
    """One round of one (server, clients): latencies (ms) of the 2xx answers, and the rest."""

    latencies: list[float]
    seconds: float
    non_2xx: int
    errors: Counter
    client_cpu: float
    server_cpu: float


async def predict_round(server: Server, clients: int, seconds: float, cap: int) -> Round:
    """``clients`` connections, each sending its next request when the last is answered,
    until ``seconds`` have passed or ``cap`` requests have been sent in all."""
    path = f"/v1/models/{server.run.name}/predict"
    connections = [Http(server.port, path) for _ in range(clients)]
    await asyncio.gather(*(c.open() for c in connections))  # connecting is not timed
    latencies, errors, counter = [], Counter(), iter(range(cap))
    non_2xx = 0

    async def client(http: Http, deadline: float) -> None:
        nonlocal non_2xx
        for k in counter:  # shared: the clients draw request numbers until the cap
            if time.perf_counter() >= deadline:
                return
            body = json.dumps({"text": text(k)}).encode()
            start = time.perf_counter()
            try:
                status = await asyncio.wait_for(http.post(body), TIMEOUT)
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as error:
                errors[type(error).__name__] += 1
                http.close()  # the connection's state is unknown: a fresh one
                continue
            if 200 <= status < 300:
                latencies.append((time.perf_counter() - start) * 1e3)
            else:
                non_2xx += 1

    cpu, server_cpu, start = client_cpu(), server.cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(client(c, start + seconds) for c in connections))
    elapsed = time.perf_counter() - start
    for c in connections:
        c.close()
    return Round(latencies, elapsed, non_2xx, errors, client_cpu() - cpu,
                 server.cpu_seconds() - server_cpu)  # fmt: skip


@dataclass
class PredictResult:
    rps: float  # median over rounds of 2xx answers per second
    p50: float
    p99: float
    requests: int
    non_2xx: int
    errors: Counter
    client_cpu: float  # share of one core's time, over the rounds
    server_cpu: float


def summarise(rounds: list[Round]) -> PredictResult:
    latencies = [x for r in rounds for x in r.latencies]
    seconds = sum(r.seconds for r in rounds)
    p50, p99 = np.percentile(latencies, [50, 99]) if latencies else (float("nan"),) * 2
    return PredictResult(
        statistics.median(len(r.latencies) / r.seconds for r in rounds), float(p50), float(p99),
        len(latencies), sum(r.non_2xx for r in rounds), sum((r.errors for r in rounds), Counter()),
        sum(r.client_cpu for r in rounds) / seconds, sum(r.server_cpu for r in rounds) / seconds,
    )  # fmt: skip


async def measure_predict(
    servers: dict[str, Server], levels: tuple[int, ...], rounds: int, seconds: float, cap: int
) -> dict[tuple[int, str], PredictResult]:
    """Every (clients, server) for ``rounds`` rounds; the servers' order alternates from
    one round to the next."""
    for server in servers.values():  # warm-up: first calls, allocator, batcher task
        await predict_round(server, 8, 1.0, 200)
    found: dict[tuple[int, str], list[Round]] = {}
    modes = list(servers)
    for r in range(rounds):
        for clients in levels:
            for mode in modes[r % 2 :] + modes[: r % 2]:
                found.setdefault((clients, mode), []).append(
                    await predict_round(servers[mode], clients, seconds, cap)
                )
                print(f"predict round {r + 1}/{rounds}: {clients} clients, batching {mode}",
                      file=sys.stderr)  # fmt: skip
    return {key: summarise(value) for key, value in found.items()}


# -- sessions --------------------------------------------------------------------------------------


@dataclass
class SessionResult:
    sessions: int
    steps: int  # asked of each
    pace: float  # seconds between a session's words; 0: the next word as the reply comes
    held: int  # sessions opened and greeted
    steps_done: int
    steps_per_s: float
    p50: float
    p99: float
    errors: Counter
    kb_per_session: float
    rss_before_mb: float
    rss_idle_mb: float
    open_seconds: float
    compression: str


async def open_session(uri: str, gate: asyncio.Semaphore) -> ClientConnection:
    """A session, its greeting read. Keep-alive pings are off: with thousands of sockets on
    one loop, a late pong would close a healthy session and count as the server's error."""
    async with gate:
        ws = await connect(uri, ping_interval=None, open_timeout=TIMEOUT, close_timeout=5,
                           max_size=2**20)  # fmt: skip
        greeting = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if greeting.get("resumed") is not False or "session" not in greeting:
            raise RuntimeError(f"unexpected greeting {greeting}")
        return ws


async def talk(ws: ClientConnection, steps: int, offset: int, latencies: list, errors: Counter,
               pace: float = 0.0, phase: float = 0.0):
    """``steps`` words, each reply awaited (and checked) before the next word. With ``pace``,
    word t is sent ``phase + t * pace`` seconds after the start (or as soon as the reply to
    the last one came, if that is later): a person typing, not a client flooding."""
    begin = time.perf_counter()
    for t in range(steps):
        word = WORDS[(offset + t) % len(WORDS)]
        if pace > 0:
            await asyncio.sleep(max(0.0, begin + phase + t * pace - time.perf_counter()))
        start = time.perf_counter()
        try:
            await ws.send(json.dumps({"word": word}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        except Exception as error:  # noqa: BLE001 - every failure is counted by its kind
            errors[f"step: {type(error).__name__}"] += 1
            return
        if reply.get("step") != t + 1 or "label" not in reply:
            errors[f"step: reply {str(reply)[:60]}"] += 1
            return
        latencies.append((time.perf_counter() - start) * 1e3)


async def end(ws: ClientConnection) -> None:
    """{"end": true}, so that the server drops the session now rather than keep it for a
    resume."""
    try:
        await ws.send(json.dumps({"end": True}))
        await asyncio.wait_for(ws.wait_closed(), 10)
    except Exception:  # noqa: BLE001 - the measurement is over; a slow close is no result
        await ws.close()


async def measure_sessions(server: Server, n: int, steps: int, pace: float) -> SessionResult:
    """Open ``n`` sessions at once, step each ``steps`` times (every ``pace`` seconds, the
    sessions' phases spread evenly over one pace; or as fast as the replies come), read the
    server's memory."""
    uri = f"ws://{HOST}:{server.port}/v1/models/{server.run.name}/stream"
    warm = await open_session(uri, asyncio.Semaphore(1))  # first step: allocator, batcher
    await talk(warm, 3, 0, [], Counter())
    await end(warm)
    await asyncio.sleep(0.5)
    before = server.rss_kb()
    gate, errors, latencies = asyncio.Semaphore(OPENING), Counter(), []
    start = time.perf_counter()
    opened = await asyncio.gather(*(open_session(uri, gate) for _ in range(n)),
                                  return_exceptions=True)  # fmt: skip
    open_seconds = time.perf_counter() - start
    sockets = [ws for ws in opened if isinstance(ws, ClientConnection)]
    for failure in opened:
        if not isinstance(failure, ClientConnection):
            errors[f"open: {type(failure).__name__}: {str(failure)[:80]}"] += 1
    start = time.perf_counter()
    await asyncio.gather(*(talk(ws, steps, k, latencies, errors, pace, pace * k / len(sockets))
                           for k, ws in enumerate(sockets)))  # fmt: skip
    elapsed = time.perf_counter() - start
    await asyncio.sleep(1.0)  # all open, all idle: the server has answered every step
    idle = server.rss_kb()
    compression = sockets[0].response.headers.get("Sec-WebSocket-Extensions", "") if sockets else ""
    await asyncio.gather(*(end(ws) for ws in sockets))
    p50, p99 = np.percentile(latencies, [50, 99]) if latencies else (float("nan"),) * 2
    return SessionResult(
        n, steps, pace, len(sockets), len(latencies), len(latencies) / elapsed, float(p50),
        float(p99), errors, (idle - before) / max(len(sockets), 1), before / 1024, idle / 1024,
        open_seconds, compression or "none",
    )  # fmt: skip


# -- report ----------------------------------------------------------------------------------------


def mark(value: float, ok: bool, digits: int = 1) -> str:
    return num(value, digits) + ("" if ok else "*")


def error_text(non_2xx: int, errors: Counter) -> str:
    parts = [f"{count} {kind}" for kind, count in errors.items()]
    if non_2xx:
        parts.insert(0, f"{non_2xx} non-2xx")
    return ", ".join(parts) or "0"


def server_stack() -> str:
    """What uvicorn runs on: its compiled HTTP parser and event loop when installed."""
    parts = []
    for package, fallback in (("httptools", "h11"), ("uvloop", "asyncio")):
        found = importlib.util.find_spec(package) is not None
        parts.append(f"{package} {version(package)}" if found else f"{fallback} ({package} absent)")
    return ", ".join(parts)


def render_header(args, load_at_start: float, wall: float, fds: int, run_note: str) -> list[str]:
    command = "python " + shlex.join([os.path.relpath(sys.argv[0])] + sys.argv[1:])
    return [
        "# rnnkit serve: predict throughput and latency, online sessions",
        "",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- torch {version('torch')}; uvicorn {version('uvicorn')} ({server_stack()}); "
        f"websockets {version('websockets')}",
        f"- CPU: {cpu_model()} ({os.cpu_count()} logical cores); load average at start "
        f"{load_at_start:.2f}",
        f"- command: `{command}` (whole run: {wall:.0f} s)",
        f"- model: {run_note}",
        f"- loopback only ({HOST}); open-file limit {fds} for the client and for each server "
        "(inherited)",
        f"- the client (this one Python process, one asyncio loop) shares the {os.cpu_count()} "
        "cores with the server: its CPU use is given next to each result, in cores "
        "(1.00 = one core busy all the time), as is the server's",
    ]


def render_predict(results, levels, rounds: int, seconds: float, cap: int) -> list[str]:
    rows = []
    for clients in levels:
        for mode in BATCHING:
            r = results[clients, mode]
            rows.append([str(clients), mode, num(r.rps, 0), num(r.p50), num(r.p99),
                         str(r.requests), error_text(r.non_2xx, r.errors),
                         num(r.client_cpu), num(r.server_cpu)])  # fmt: skip
    head = ["clients", "batching", "req/s", "p50 ms", "p99 ms", "answered", "errors",
            "client cores", "server cores"]  # fmt: skip
    lines = [
        "",
        "## Predict (sentiment)",
        "",
        f'`POST /v1/models/NAME/predict` with `{{"text": ...}}` (4-12 words, a different '
        "text each request). Each client has one keep-alive connection and sends its next "
        f"request when the last is answered; a round lasts {seconds:g} s or {cap} requests, "
        f"whichever comes first; {rounds} rounds per row, the two servers alternating. "
        "req/s = answers (2xx) per second, median over rounds; p50/p99 over every answer of "
        "every round. batching on = `--max-batch 64 --max-delay-ms 1`, off = `--max-batch 1`.",
        *table(head, rows, text_columns=2),
    ]
    if (TARGET_CLIENTS, "on") in results:
        on, off = results[TARGET_CLIENTS, "on"], results[TARGET_CLIENTS, "off"]
        ratio = on.rps / off.rps if off.rps > 0 else float("nan")
        lines += [
            "",
            f"At {TARGET_CLIENTS} clients (target in brackets, `*` = missed):",
            "",
            f"- batched / unbatched throughput: **{mark(ratio, ratio >= RATIO_TARGET, 2)}** "
            f"(>= {RATIO_TARGET:g}); p99 batched {num(on.p99)} ms vs unbatched {num(off.p99)} ms: "
            f"**{'no worse' if on.p99 <= off.p99 else 'worse*'}** (no worse)",
            f"- batched throughput **{mark(on.rps, on.rps >= RPS_TARGET, 0)} req/s** "
            f"(>= {RPS_TARGET:g}), p99 **{mark(on.p99, on.p99 <= P99_TARGET)} ms** "
            f"(<= {P99_TARGET:g})",
        ]
    return lines


def render_sessions(results: list[SessionResult]) -> list[str]:
    rows = []
    for r in results:
        p99 = (
            mark(r.p99, r.p99 <= SESSION_P99_TARGET)
            if r.sessions == SESSION_P99_AT
            else num(r.p99, 1)
        )
        held_ok = r.held == r.sessions and not r.errors
        held = f"{r.held}" + ("" if held_ok or r.sessions != HELD_TARGET else "*")
        pace = f"{r.pace * 1e3:g} ms" if r.pace > 0 else "on reply"
        rows.append([f"{r.sessions:,}", str(r.steps), pace, held, num(r.steps_per_s, 0),
                     num(r.p50, 1), p99, error_text(0, r.errors),
                     mark(r.kb_per_session, r.kb_per_session <= KB_TARGET),
                     num(r.rss_before_mb, 0), num(r.rss_idle_mb, 0),
                     num(r.open_seconds, 1)])  # fmt: skip
    head = ["sessions", "steps each", "word every", "held", "steps/s", "p50 ms/step",
            "p99 ms/step", "errors", "KB per idle session", "RSS before MB", "RSS idle MB",
            "opening s"]  # fmt: skip
    compression = results[0].compression if results else "n/a"
    return [
        "",
        "## Online sessions (WebSocket, batching server)",
        "",
        "A fresh `--max-batch 64 --max-delay-ms 1` server per row. All sessions are opened "
        f"at once ({OPENING} handshakes in flight at most) and each greeting read; then every "
        "session sends its words, one at a time, each reply awaited and checked (step number, "
        "label) before the next: either the next word as soon as the reply comes (`on reply`: "
        "the server's capacity; by Little's law each step then waits about sessions / "
        "(steps/s)), or a word every 500 ms per session, the sessions' turns spread evenly "
        "(people typing at 2 words/s, about three times a fast typist's pace). steps/s = "
        "replies over the time from the first word to the last reply; latency is per word, "
        "send to reply. KB per idle session = (server VmRSS "
        "with all sessions open and idle after their steps - VmRSS before opening) / sessions "
        f"held. Targets: p99 <= {SESSION_P99_TARGET:g} ms per step at {SESSION_P99_AT:,} "
        f"sessions; <= {KB_TARGET:g} KB per idle session; {HELD_TARGET:,} held without an "
        f"error; `*` = missed. WebSocket extension negotiated: `{compression}` (the client "
        "offers permessage-deflate, as browsers do).",
        *table(head, rows, text_columns=3),
    ]


def render_notes(notes: list[str]) -> list[str]:
    return ["", "## Notes", "", *(f"- {note}" for note in notes)] if notes else []


# -- main ------------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--run", type=Path, help="a sentiment run directory to serve (default: train one)")
    add("--rounds", type=int, help="rounds per (clients, batching) (default 3, quick 1)")
    add("--seconds", type=float, help="longest round, seconds (default 3, quick 1)")
    add("--cap", type=int, default=20_000, help="most requests in one round")
    add("--out", type=Path, default=DEFAULT_OUT, help="markdown output path")
    add("--quick", action="store_true", help="smoke run: 1 and 8 clients, 100 sessions")
    args = parser.parse_args()
    for name, default, quick in (("rounds", 3, 1), ("seconds", 3.0, 1.0)):
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else default)
    return args


def run_predict(run: Path, args, levels, workdir: Path) -> dict:
    servers = {mode: Server(run, options, workdir / f"serve-{mode}.log")
               for mode, options in BATCHING.items()}  # fmt: skip
    try:
        for server in servers.values():
            server.start()
        return asyncio.run(measure_predict(servers, levels, args.rounds, args.seconds, args.cap))
    finally:
        for server in servers.values():
            server.stop()


def run_sessions(run: Path, levels, workdir: Path, notes: list[str]) -> list[SessionResult]:
    results = []
    for n, steps, pace in levels:
        server = Server(run, BATCHING["on"], workdir / f"serve-sessions-{n}.log")
        try:
            server.start()
            if server.fd_limit() < n + 100:
                notes.append(f"the server's open-file limit {server.fd_limit()} is below "
                             f"{n:,} sessions")  # fmt: skip
            results.append(asyncio.run(measure_sessions(server, n, steps, pace)))
            print(f"sessions: {n:,} (pace {pace:g} s) done", file=sys.stderr)
        finally:
            server.stop()
    return results


def main() -> None:
    args = parse_args()
    load_at_start, start = os.getloadavg()[0], time.perf_counter()
    fds = raise_fd_limit()  # before any server starts: they inherit it
    levels = QUICK_CLIENTS if args.quick else CLIENTS
    session_levels = QUICK_SESSIONS if args.quick else SESSIONS
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="rnnkit-serve-bench-") as directory:
        workdir = Path(directory)
        if args.run is None:
            print("training a sentiment run (about 35 s)", file=sys.stderr)
            t = time.perf_counter()
            run = train(workdir, workdir / "train.log")
            run_note = (f"trained by this run in {time.perf_counter() - t:.0f} s: `rnnkit train "
                        "sentiment --data mr --hidden 128 --time-budget 30s` (LSTM, 1 layer, "
                        "pooling last)")  # fmt: skip
        else:
            run, run_note = args.run, f"`{args.run}`"
        predict = run_predict(run, args, levels, workdir)
        sessions = run_sessions(run, session_levels, workdir, notes)
        for log in sorted(workdir.glob("serve-*.log")):  # tracebacks, if a server had any
            if "Traceback" in log.read_text(errors="replace"):
                notes.append(f"{log.name} holds a traceback: the server raised during the run")
    lines = render_header(args, load_at_start, time.perf_counter() - start, fds, run_note)
    lines += render_predict(predict, levels, args.rounds, args.seconds, args.cap)
    lines += render_sessions(sessions)
    lines += render_notes(notes)
    text_ = "\n".join(lines) + "\n"
    print(text_, end="")
    write_atomically(args.out, text_)
    print(f"\nwritten to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
