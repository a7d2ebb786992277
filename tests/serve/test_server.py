"""``rnnkit serve`` as a process: it binds to 127.0.0.1 by default, answers over real
HTTP, needs its API key, and on SIGTERM finishes the requests in flight before it exits.
Loopback only, bounded in time."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

import rnnkit


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(port, path, body=None, key=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **({"X-API-Key": key} if key else {})}
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data, headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture
def server(tiny_runs, tmp_path):
    """Start ``rnnkit serve`` on a free port -> (process, port); stopped at the end."""
    started = []

    def start(*runs, options=()):
        port = _free_port()
        log = open(tmp_path / f"serve-{port}.log", "wb")  # noqa: SIM115 - closed below
        command = [sys.executable, "-m", "rnnkit", "serve", *map(str, runs), "--port", str(port),
                   *options]  # fmt: skip
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        started.append((process, log))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / f"serve-{port}.log").read_text()
            try:
                if _request(port, "/healthz", timeout=1)[0] == 200:
                    return process, port
            except OSError:
                time.sleep(0.2)
        raise AssertionError("rnnkit serve did not answer /healthz within 60 s")

    yield start
    for process, log in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        log.close()


def test_the_process_serves_on_loopback_with_its_key(server, tiny_runs):
    process, port = server(tiny_runs / "sentiment", options=("--api-key", "k3y"))
    assert _request(port, "/v1/models")[0] == 401
    status, body = _request(port, "/v1/models/sentiment/predict", {"text": "a joy"}, key="k3y")
    expected = rnnkit.load(tiny_runs / "sentiment").predict("a joy")
    assert status == 200 and body["label"] == expected.label
    with socket.socket() as probe:  # bound to 127.0.0.1 only: another local address refuses
        probe.settimeout(2)
        addresses = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None,
                                                               socket.AF_INET)}  # fmt: skip
        others = sorted(a for a in addresses if not a.startswith("127."))
        if others:
            assert probe.connect_ex((others[0], port)) != 0


def test_sigterm_finishes_the_requests_in_flight(server, tiny_runs):
    process, port = server(tiny_runs / "charlm")
    answers = []
    body = {"prime": "RO", "length": 2000, "seed": 1}  # long enough to be in flight

    def client():
        answers.append(_request(port, "/v1/models/charlm/generate", body, timeout=60))

    thread = threading.Thread(target=client)
    thread.start()
    time.sleep(0.3)  # the request has arrived
    process.send_signal(signal.SIGTERM)
    thread.join(60)
    ((status, answer),) = answers
    assert status == 200 and len(answer["generated"]) == 2000
    # uvicorn re-raises the signal once it has drained: the process ends by SIGTERM.
    assert process.wait(60) in (0, -signal.SIGTERM)


def test_a_run_that_cannot_be_served_is_a_one_line_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "rnnkit", "serve", str(tmp_path / "none")],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "does not exist" in result.stderr


def test_a_forecast_session_over_a_real_websocket(server, tiny_runs, tmp_path):
    """The process serves a run of one series (sessions: observations in, the forecast
    after them out) beside a collection's run, which has no sessions."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    rows = ["store,date,sales"] + [f"{s},{2000 + m // 12}-{m % 12 + 1:02d},{10 * k + m % 12}"
                                   for k, s in enumerate("ab", 1) for m in range(36)]  # fmt: skip
    (tmp_path / "stores.csv").write_text("\n".join(rows) + "\n")
    collection = tmp_path / "stores"
    train = [sys.executable, "-m", "rnnkit", "train", "forecast", "--data",
             str(tmp_path / "stores.csv"), "--id-column", "store", "--target", "sales",
             "--horizon", "3", "--hidden", "8", "--epochs", "1", "--quiet", "--out",
             str(collection)]  # fmt: skip
    subprocess.run(train, check=True, capture_output=True, timeout=120)
    _, port = server(tiny_runs / "forecast", collection)
    observation = {"date": "2005-01", "sales": 33.5, "price": 1}
    with connect(f"ws://127.0.0.1:{port}/v1/models/forecast/stream", open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["steps"] == 0
        ws.send(json.dumps({"observation": observation}))
        reply = json.loads(ws.recv(timeout=30))
    want = rnnkit.load(tiny_runs / "forecast").update([observation]).forecast()
    assert reply["step"] == 1 and reply["forecast"]["times"][0] == str(want.times[0])
    np.testing.assert_allclose(reply["forecast"]["mean"], want.central, rtol=1e-6)
    with connect(f"ws://127.0.0.1:{port}/v1/models/stores/stream", open_timeout=10) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd.code == 4400 and "no online sessions" in closed.value.rcvd.reason
