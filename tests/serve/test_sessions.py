"""Online sessions over WebSocket: each reply is the prediction after the prefix so far,
equal to running the prefix whole; sessions resume after a dropped connection, are
capped (the longest idle closed with a code and a reason) and survive bad messages; the
steps of many sessions run as one batch with the same results as one by one."""

from __future__ import annotations

import contextlib

import pytest
import torch
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

import rnnkit
from rnnkit.cli import main
from rnnkit.serve.app import Settings, create_app
from rnnkit.serve.online import OnlineModel, SessionState
from tests.conftest import TINY

TOL = 1e-5


@pytest.fixture(scope="module")
def client(tiny_runs):
    names = ("sentiment", "seqclass", "charlm")
    with TestClient(create_app([tiny_runs / n for n in names], Settings(max_sessions=3))) as c:
        yield c


def test_each_word_gets_the_prediction_after_the_prefix(client, tiny_runs):
    words = ["so", "much", "fun", "and", "warm"]
    trace = rnnkit.load(tiny_runs / "sentiment").trace(" ".join(words))
    with client.websocket_connect("/v1/models/sentiment/stream") as socket:
        hello = socket.receive_json()
        assert hello["resumed"] is False and hello["steps"] == 0
        for t, word in enumerate(words):
            socket.send_json({"word": word})
            reply = socket.receive_json()
            assert reply["step"] == t + 1
            got = torch.tensor(list(reply["probabilities"].values()))
            torch.testing.assert_close(got, trace.probabilities[t], atol=TOL, rtol=0)


def test_characters_and_vectors_step_as_the_whole_prefix(client, tiny_runs):
    charlm = rnnkit.load(tiny_runs / "charlm")
    text = "ROMEO:"
    with client.websocket_connect("/v1/models/charlm/stream") as socket:
        socket.receive_json()
        for t, char in enumerate(text):
            socket.send_json({"char": char})
            reply = socket.receive_json()
            ids = torch.tensor([charlm.tokenizer.encode(text[: t + 1])])
            with torch.no_grad():
                expected = charlm.model(ids)[0][0, -1].softmax(-1)
            for token, p in reply["next"]:
                index = charlm.tokenizer.index[token]
                assert p == pytest.approx(float(expected[index]), abs=TOL)
    seqclass = rnnkit.load(tiny_runs / "seqclass")  # bidirectional: the exact path
    steps = (torch.randn(4, 3) * 2).tolist()
    trace = seqclass.trace(steps)
    with client.websocket_connect("/v1/models/seqclass/stream") as socket:
        socket.receive_json()
        for t, step in enumerate(steps):
            socket.send_json({"step": step})
            got = torch.tensor(list(socket.receive_json()["probabilities"].values()))
            torch.testing.assert_close(got, trace.probabilities[t], atol=TOL, rtol=0)


def test_a_session_resumes_where_it_was(client, tiny_runs):
    trace = rnnkit.load(tiny_runs / "sentiment").trace("truly great fun")
    with client.websocket_connect("/v1/models/sentiment/stream") as socket:
        session = socket.receive_json()["session"]
        for word in ("truly", "great"):
            socket.send_json({"word": word})
            socket.receive_json()
    with client.websocket_connect(f"/v1/models/sentiment/stream?session={session}") as socket:
        hello = socket.receive_json()
        assert hello == {"session": session, "resumed": True, "steps": 2}
        socket.send_json({"word": "fun"})
        got = torch.tensor(list(socket.receive_json()["probabilities"].values()))
        torch.testing.assert_close(got, trace.probabilities[2], atol=TOL, rtol=0)
        socket.send_json({"end": True})
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
        assert closed.value.code == 1000


def test_bad_messages_get_an_error_and_the_session_goes_on(client):
    with client.websocket_connect("/v1/models/sentiment/stream") as socket:
        socket.receive_json()
        for bad, message in ((b"not json", "each message is"), ({"char": "a"}, '{"word": ...}'),
                             ({"word": "two words"}, "one word per message"),
                             ({"word": 3}, "reads texts")):  # fmt: skip
            if isinstance(bad, bytes):
                socket.send_text(bad.decode())
            else:
                socket.send_json(bad)
            assert message in socket.receive_json()["error"]
        socket.send_json({"word": "fun"})
        assert socket.receive_json()["step"] == 1


def test_unknown_models_and_the_session_cap(client):
    with client.websocket_connect("/v1/models/nobody/stream") as socket:
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
        assert closed.value.code == 4404 and "no model named 'nobody'" in closed.value.reason
    with contextlib.ExitStack() as stack:
        opened = []
        for _ in range(4):  # the 4th opening evicts the session idle longest: the 1st
            opened.append(stack.enter_context(client.websocket_connect("/v1/models/charlm/stream")))
            opened[-1].receive_json()
        with pytest.raises(WebSocketDisconnect) as closed:
            opened[0].receive_json()
        assert closed.value.code == 4000 and "cap of 3 sessions" in closed.value.reason
        opened[1].send_json({"char": "R"})  # the others go on
        assert opened[1].receive_json()["step"] == 1


@pytest.mark.parametrize("task", ["sentiment", "charlm"])
def test_a_batched_step_equals_the_sessions_one_by_one(tiny_runs, task):
    online = OnlineModel(rnnkit.load(tiny_runs / task))
    field = {"sentiment": "word", "charlm": "char"}[task]
    inputs = [["so", "much", "fun"], ["a", "bore"], ["truly", "great", "fun"]]
    if task == "charlm":
        inputs = [list("RO"), list("JULI"), list("Ay ")]
    alone, batched = [SessionState() for _ in inputs], [SessionState() for _ in inputs]
    for t in range(max(map(len, inputs))):
        live = [k for k, seq in enumerate(inputs) if t < len(seq)]
        steps = [online.encode({field: inputs[k][t]})[0] for k in live]
        together = online.step([(batched[k], x) for k, x in zip(live, steps, strict=True)])
        for k, x, reply in zip(live, steps, together, strict=True):
            (single,) = online.step([(alone[k], x)])
            assert reply.keys() == single.keys() and reply["step"] == single["step"]
            if task == "charlm":  # [[char, p], ...]: the same characters, the same p
                assert [c for c, _ in reply["next"]] == [c for c, _ in single["next"]]
                got, expected = ([p for _, p in r["next"]] for r in (reply, single))
                assert got == pytest.approx(expected, abs=1e-6)
            else:
                assert reply["probabilities"] == pytest.approx(single["probabilities"], abs=1e-6)


def test_a_word_of_a_subword_model_steps_through_its_pieces(tiny_runs, tmp_path):
    run = tmp_path / "subwords"
    argv = ["train", "sentiment", "--data", tiny_runs / "reviews.csv", "--tokens", "subword",
            "--no-bidirectional", "--epochs", "2", "--out", run, *TINY]  # fmt: skip
    assert main([str(a) for a in argv]) == 0
    words = ["truly", "greatness", "and", "warmth"]
    trace = rnnkit.load(run).trace(" ".join(words))
    ends = [len(trace.steps[: k + 1]) for k, step in enumerate(trace.steps)
            if k + 1 == len(trace.steps) or trace.steps[k + 1].startswith("\u2581")]  # fmt: skip
    assert len(ends) == len(words) < len(trace.steps)  # some words are several pieces
    with TestClient(create_app([run], Settings())) as client:
        with client.websocket_connect("/v1/models/subwords/stream") as socket:
            socket.receive_json()
            for word, end in zip(words, ends, strict=True):
                socket.send_json({"word": word})
                reply = socket.receive_json()
                assert reply["step"] == end
                got = torch.tensor(list(reply["probabilities"].values()))
                torch.testing.assert_close(got, trace.probabilities[end - 1], atol=TOL, rtol=0)
            socket.send_json({"word": "two words"})
            assert "one word per message, got 2" in socket.receive_json()["error"]
