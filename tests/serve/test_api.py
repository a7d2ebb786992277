"""The server's JSON API in-process (FastAPI's TestClient) on the tiny runs: every endpoint
answers as the run's predictor does, micro-batched answers equal unbatched ones, and bad
input is a 4xx whose JSON names what is wrong."""

from __future__ import annotations

import json

import pytest
import torch
from fastapi.testclient import TestClient

import rnnkit
from rnnkit.serve.app import Settings, create_app

NAMES = ("sentiment", "seqclass", "charlm", "generator", "forecast", "seq2seq")


@pytest.fixture(scope="module")
def client(tiny_runs):
    app = create_app([tiny_runs / name for name in NAMES], Settings(max_batch=8))
    with TestClient(app) as client:
        yield client


def test_health_models_and_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok", "models": 6}
    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert {name: m["task"] for name, m in models.items()} == {n: n for n in NAMES}
    assert models["sentiment"]["settings"]["hidden"] == 8
    assert (
        models["sentiment"]["classes"] == ["neg", "pos"] and "steps" in models["charlm"]["metrics"]
    )
    client.post("/v1/models/sentiment/predict", json={"text": "a joy"})
    text = client.get("/metrics").text
    assert 'rnnkit_requests_total{endpoint="predict",status="200"}' in text
    assert "rnnkit_batch_size_bucket" in text and "rnnkit_request_seconds_bucket" in text


def test_predict_equals_the_predictor(client, tiny_runs):
    model = rnnkit.load(tiny_runs / "sentiment")
    texts = ["so much fun", "awful and cold", "a joy"]
    many = client.post("/v1/models/sentiment/predict", json={"texts": texts}).json()
    for got, expected in zip(many["predictions"], model.predict(texts), strict=True):
        assert got["label"] == expected.label
        assert got["probabilities"] == pytest.approx(expected.probabilities, abs=1e-6)
    one = client.post("/v1/models/sentiment/predict", json={"text": "a joy", "trace": True}).json()
    trace = model.trace("a joy")
    assert one["trace"]["steps"] == ["a", "joy"]
    torch.testing.assert_close(torch.tensor(one["trace"]["probabilities"]), trace.probabilities)
    sequence = (torch.randn(7, 3) * 2).tolist()
    got = client.post("/v1/models/seqclass/predict", json={"sequence": sequence}).json()
    expected = rnnkit.load(tiny_runs / "seqclass").predict(sequence)
    assert got["probabilities"] == pytest.approx(expected.probabilities, abs=1e-6)


def test_generate_translate_and_forecast_equal_the_predictors(client, tiny_runs):
    body = {"prime": "RO", "length": 30, "seed": 3, "temperature": 0.9}
    got = client.post("/v1/models/charlm/generate", json=body).json()
    expected = rnnkit.load(tiny_runs / "charlm").generate("RO", 30, 0.9, seed=3)
    assert got["text"] == expected and got["generated"] == expected[2:]
    got = client.post("/v1/models/generator/generate",
                      json={"condition": "pos", "count": 2, "seed": 1}).json()  # fmt: skip
    assert got["sentences"] == rnnkit.load(tiny_runs / "generator").generate("pos", 2, seed=1)
    got = client.post("/v1/models/seq2seq/translate", json={"text": "abca", "beam": 1}).json()
    translation = rnnkit.load(tiny_runs / "seq2seq").translate("abca", beam=1)
    assert got["output"] == translation.text and got["source"] == list("abca")
    assert torch.tensor(got["attention"]).shape == translation.attention.shape
    csv_text = (tiny_runs / "shop.csv").read_text()
    got = client.post("/v1/models/forecast/forecast", json={"history": csv_text, "horizon": 4})
    forecast = rnnkit.load(tiny_runs / "forecast").forecast(str(tiny_runs / "shop.csv"), 4)
    assert got.status_code == 200 and got.json()["times"] == [str(t) for t in forecast.times]
    mean = [row[0] for row in got.json()["mean"]]  # (H, K): one target
    assert mean == pytest.approx(forecast.central[:, 0].tolist(), rel=1e-6)
    records = [dict(zip(("date", "sales", "price"), line.split(","), strict=True))
               for line in csv_text.splitlines()[1:]]  # fmt: skip
    again = client.post("/v1/models/forecast/forecast", json={"history": records, "horizon": 4})
    assert again.json()["mean"] == got.json()["mean"]


def test_generation_streams_as_server_sent_events(client, tiny_runs):
    body = {"prime": "RO", "length": 12, "seed": 5, "stream": True}
    with client.stream("POST", "/v1/models/charlm/generate", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line]
    pieces = [json.loads(e[len("data: ") :])["piece"] for e in events if e.startswith('data: {"')]
    assert events[-2:] == ["event: end", "data: {}"] and len(pieces) == 12
    assert "RO" + "".join(pieces) == rnnkit.load(tiny_runs / "charlm").generate(
        "RO", 12, 0.8, seed=5
    )


def test_concurrent_requests_are_batched_and_equal_alone(tiny_runs):
    """Eight requests at once with a batcher that waits long enough to take them all."""
    app = create_app([tiny_runs / "sentiment"], Settings(max_batch=8, max_delay_ms=200))
    texts = ["so much fun", "a bore", "truly great", "dull", "a joy", "awful", "fun", "cold"]
    model = rnnkit.load(tiny_runs / "sentiment")
    with TestClient(app) as client:
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(
                lambda t: client.post("/v1/models/sentiment/predict", json={"text": t}).json(),
                texts,
            ))  # fmt: skip
        metrics = client.get("/metrics").text
    for answer, expected in zip(answers, model.predict(texts), strict=True):
        assert answer["probabilities"] == pytest.approx(expected.probabilities, abs=1e-6)
    sizes = [line for line in metrics.splitlines() if line.startswith("rnnkit_batch_size_count")]
    batches = float(sizes[0].split()[-1])
    assert batches < len(texts)  # some requests ran together


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("sentiment/predict", {"text": 3}, 422, "text: Input should be a valid string"),
        ("sentiment/predict", {"text": "a", "nope": 1}, 422, "nope: Extra inputs"),
        ("sentiment/predict", {}, 422, "give exactly one of text, texts"),
        ("sentiment/predict", {"text": "x" * 10_001}, 422, "at most 10000 characters"),
        ("sentiment/predict", {"texts": ["a"], "trace": True}, 422, "trace is for one input"),
        ("seqclass/predict", {"sequence": [[1.0, 2.0]]}, 400, "(T, C=3)"),
        ("seqclass/predict", {"text": "hello"}, 400, "reads sequences"),
        ("charlm/predict", {"text": "a"}, 400, "it answers /generate, not /predict"),
        ("nobody/predict", {"text": "a"}, 404, "no model named 'nobody'"),
        ("charlm/generate", {"length": 100_000}, 422, "length: Input should be less than"),
        ("charlm/generate", {"prime": "¿Zé"}, 400, "never seen in training"),
        ("charlm/generate", {"temperature": 0}, 422, "temperature: Input should be greater"),
        ("generator/generate", {}, 422, "condition: required"),
        ("generator/generate", {"condition": "neutral"}, 422, "condition: must be one of"),
        ("seq2seq/translate", {"text": "xyz"}, 400, "never seen in training"),
        ("forecast/forecast", {"history": "date,other\n2000-01,1\n"}, 400, "history"),
        ("forecast/forecast", {"horizon": 0}, 422, "horizon"),
    ],
)
def test_bad_input_is_a_4xx_naming_what_is_wrong(client, path, body, status, message):
    response = client.post(f"/v1/models/{path}", json=body)
    assert response.status_code == status and message in response.json()["error"], response.text


def test_malformed_json_and_oversized_bodies(client, tiny_runs):
    response = client.post("/v1/models/sentiment/predict", content=b"{bad",
                           headers={"content-type": "application/json"})  # fmt: skip
    assert response.status_code == 422 and response.json()["error"] == "body: not valid JSON"
    app = create_app([tiny_runs / "sentiment"], Settings(max_body_bytes=100))
    with TestClient(app) as small:
        response = small.post("/v1/models/sentiment/predict", json={"text": "a" * 200})
        assert response.status_code == 413 and "limit of 100 bytes" in response.json()["error"]


def test_the_api_key_guards_every_endpoint_but_healthz(tiny_runs):
    app = create_app([tiny_runs / "sentiment"], Settings(api_key="s3cret"))
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        for method, path in (("get", "/v1/models"), ("get", "/metrics"),
                             ("post", "/v1/models/sentiment/predict")):  # fmt: skip
            response = getattr(client, method)(path)
            assert response.status_code == 401 and "API key" in response.json()["error"]
        ok = client.post("/v1/models/sentiment/predict", json={"text": "a joy"},
                         headers={"X-API-Key": "s3cret"})  # fmt: skip
        bearer = client.get("/v1/models", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and bearer.status_code == 200
