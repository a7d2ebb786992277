"""Online forecast sessions over WebSocket: each message appends observations to the
session's own series and the reply is the forecast after them, equal to the predictor's
``update(...).forecast()``; bad messages get an error and the session goes on; sessions
do not see each other's observations (nor the forecast endpoint); a resumed session keeps
its observations."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

import rnnkit
from rnnkit.serve.app import Settings, create_app

STREAM = "/v1/models/forecast/stream"
# shop.csv (tests/conftest.py) is monthly, 2000-01 to 2004-12: date, sales, price.
JAN = {"date": "2005-01", "sales": 33.5, "price": 1}
FEB = {"date": "2005-02", "sales": 34.0, "price": 2}
APR = {"date": "2005-04", "sales": None, "price": 4}  # March skipped, April's sales a gap


@pytest.fixture(scope="module")
def client(tiny_runs):
    with TestClient(create_app([tiny_runs / "forecast"], Settings(max_sessions=4))) as c:
        yield c


def expected(tiny_runs, *updates: list[dict]) -> dict:
    """The predictor's forecast after ``updates``, as the server's JSON would hold it."""
    model = rnnkit.load(tiny_runs / "forecast")
    for records in updates:
        model.update(records)
    result = model.forecast()
    return {"times": [str(t) for t in result.times], "mean": result.central,
            "lower": result.lower, "upper": result.upper}  # fmt: skip


def assert_same(reply: dict, want: dict) -> None:
    forecast = reply["forecast"]
    assert forecast["targets"] == ["sales"] and forecast["times"] == want["times"]
    for key in ("mean", "lower", "upper"):
        np.testing.assert_allclose(forecast[key], want[key], rtol=1e-6, atol=1e-8)


def send(socket, message: dict) -> dict:
    socket.send_json(message)
    return socket.receive_json()


def test_each_update_gets_the_predictors_forecast_after_it(client, tiny_runs):
    with client.websocket_connect(STREAM) as socket:
        assert socket.receive_json()["steps"] == 0
        reply = send(socket, {"observation": JAN})
        assert reply["step"] == 1 and reply["forecast"]["times"][0] == "2005-02-01"
        assert_same(reply, expected(tiny_runs, [JAN]))
        reply = send(socket, {"observations": [FEB, APR]})
        assert reply["step"] == 2 and reply["forecast"]["times"][0] == "2005-05-01"
        assert_same(reply, expected(tiny_runs, [JAN, FEB, APR]))


def test_bad_observations_get_an_error_and_the_session_goes_on(client, tiny_runs):
    bad = [
        ({"observation": {**JAN, "colour": 1}}, "unknown fields ['colour']"),
        ({"observation": {**JAN, "sales": "many"}}, "sales must be a number or null"),
        ({"observation": {**JAN, "sales": True}}, "sales must be a number or null"),
        ({"observations": [JAN, {**FEB, "price": "x"}]}, "observations[1]: price must be"),
        ({"observation": {**JAN, "date": "2004-12"}}, "is not after the series' last period"),
        ({"observation": {**JAN, "date": "soon"}}, "not a date"),
        ({"observation": [JAN]}, "observation: one object"),
        ({"observations": []}, "1 to"),
        ({"word": "fun"}, '{"observation": {...}}'),
    ]
    with client.websocket_connect(STREAM) as socket:
        socket.receive_json()
        for message, error in bad:
            assert error in send(socket, message)["error"], message
        socket.send_text("not json")
        assert "each message is" in socket.receive_json()["error"]
        reply = send(socket, {"observation": JAN})
        assert reply["step"] == 1
        assert_same(reply, expected(tiny_runs, [JAN]))
        assert "not after" in send(socket, {"observation": JAN})["error"]  # already appended
        assert send(socket, {"observation": FEB})["step"] == 2


def test_sessions_keep_their_own_series(client, tiny_runs):
    high = {**JAN, "sales": 80.0}
    with client.websocket_connect(STREAM) as one, client.websocket_connect(STREAM) as two:
        one.receive_json(), two.receive_json()
        first = send(one, {"observation": high})
        second = send(two, {"observation": JAN})  # the same period: two has not seen one's
        assert first["step"] == second["step"] == 1
        assert_same(first, expected(tiny_runs, [high]))
        assert_same(second, expected(tiny_runs, [JAN]))
    # the served predictor's series is the training series still
    plain = client.post("/v1/models/forecast/forecast", json={}).json()
    assert_same({"forecast": plain}, expected(tiny_runs))


def test_a_resumed_session_keeps_its_observations(client, tiny_runs):
    with client.websocket_connect(STREAM) as socket:
        session = socket.receive_json()["session"]
        send(socket, {"observation": JAN})
    with client.websocket_connect(f"{STREAM}?session={session}") as socket:
        assert socket.receive_json() == {"session": session, "resumed": True, "steps": 1}
        assert "not after" in send(socket, {"observation": JAN})["error"]
        reply = send(socket, {"observation": FEB})
        assert reply["step"] == 2
        assert_same(reply, expected(tiny_runs, [JAN, FEB]))
