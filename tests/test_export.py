"""``rnnkit export RUN --format onnx|pt2`` for every task, on runs trained on tiny data:
each exported graph, run in onnxruntime or as the loaded ``torch.export`` program at B in
{1, 3, 32} x T in {1, 17, 256}, matches ``rnnkit.load(run)`` within 1e-4; bad runs and
existing files are one-line errors that write nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

import rnnkit
from rnnkit.cli import main

SMALL = ["--hidden", "8", "--embedding-dim", "8", "--quiet", "--batch-size", "4"]
SHAPES = [(b, t) for b in (1, 3, 32) for t in (1, 17, 256)]
TOL = 1e-4


def _main(*argv) -> int:
    return main([str(a) for a in argv])


@pytest.fixture(scope="module")
def runs(tiny_runs):
    return tiny_runs


def _runner(path, fmt):
    """The exported file as a function of its inputs (numpy for onnxruntime) -> tensors."""
    if fmt == "onnx":
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]

        def run(*inputs):
            feed = {n: x.numpy() for n, x in zip(names, inputs, strict=True)}
            return [torch.from_numpy(a) for a in session.run(None, feed)]

        return run
    module = torch.export.load(str(path)).module()

    def run(*inputs):
        with torch.no_grad():
            output = module(*inputs)
        return list(output) if isinstance(output, (tuple, list)) else [output]

    return run


def _export(runs, task, fmt, tmp_path) -> dict:
    out = tmp_path / f"{task}.{fmt}"
    assert _main("export", runs / task, "--format", fmt, "--out", out) == 0
    return {p.name.split(".")[-2] if p.name.count(".") > 1 else "model": _runner(p, fmt)
            for p in tmp_path.glob(f"{task}*.{fmt}")}  # fmt: skip


def _close(got, expected, what):
    for k, (a, e) in enumerate(zip(got, expected, strict=True)):
        torch.testing.assert_close(a.to(e.dtype), e, atol=TOL, rtol=0, msg=f"{what}: output {k}")


def _lengths(batch, steps):
    lengths = torch.randint(1, steps + 1, (batch,))
    lengths[batch // 2] = steps
    return lengths


FORMATS = ["onnx", "pt2"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_sentiment_and_seqclass(runs, fmt, tmp_path):
    for task in ("sentiment", "seqclass"):
        graph = _export(runs, task, fmt, tmp_path)["model"]
        model = rnnkit.load(runs / task)
        for batch, steps in SHAPES:
            lengths = _lengths(batch, steps)
            if task == "sentiment":
                x = torch.randint(2, len(model.tokenizer), (batch, steps))
                with torch.no_grad():
                    expected = model.model(x, lengths).softmax(-1)
            else:  # raw features: the predictor scales them, and so does the graph
                x = 3 * torch.randn(batch, steps, 3)
                expected = model.probabilities([x[b, : lengths[b]] for b in range(batch)])
            _close(graph(x, lengths), [expected], f"{task} {fmt} {(batch, steps)}")


@pytest.mark.parametrize("fmt", FORMATS)
def test_charlm_whole_sequence_and_streaming_step(runs, fmt, tmp_path):
    graph = _export(runs, "charlm", fmt, tmp_path)["model"]
    model = rnnkit.load(runs / "charlm")
    for batch, steps in SHAPES:
        tokens = torch.randint(2, len(model.tokenizer), (batch, steps))
        zeros = [torch.zeros(batch, 8) for _ in range(4)]  # h, c of 2 layers
        with torch.no_grad():
            logits, state = model.model(tokens)
        expected = [logits, *(t for layer in state for t in layer)]
        _close(graph(tokens, *zeros), expected, f"charlm {fmt} {(batch, steps)}")
    # One step at a time with the state fed back = the whole sequence at once.
    tokens = torch.randint(2, len(model.tokenizer), (3, 17))
    state = [torch.zeros(3, 8) for _ in range(4)]
    steps = []
    for t in range(17):
        logits, *state = graph(tokens[:, t : t + 1], *state)
        steps.append(logits)
    whole = graph(tokens, *[torch.zeros(3, 8) for _ in range(4)])[0]
    torch.testing.assert_close(torch.cat(steps, 1), whole, atol=TOL, rtol=0)


@pytest.mark.parametrize("fmt", FORMATS)
def test_generator_start_and_model(runs, fmt, tmp_path):
    graphs = _export(runs, "generator", fmt, tmp_path)
    model = rnnkit.load(runs / "generator")
    for batch, steps in SHAPES:
        condition = torch.eye(2)[torch.arange(batch) % 2]
        tokens = torch.randint(2, len(model.tokenizer), (batch, steps))
        *state, offset = graphs["start"](condition)
        with torch.no_grad():
            expected = model.model(tokens, condition)
        _close(graphs["model"](tokens, offset, *state)[:1], [expected], f"generator {fmt}")


@pytest.mark.parametrize("fmt", FORMATS)
def test_forecast_in_the_series_units(runs, fmt, tmp_path):
    graph = _export(runs, "forecast", fmt, tmp_path)["model"]
    model = rnnkit.load(runs / "forecast")
    forecast = model.forecast()
    (module,) = [g.module for g in model.graphs()]
    from rnnkit.tasks.forecast import forecast_inputs

    series = forecast.series
    inputs = forecast_inputs(model.fitted, series, np.array([len(series) - model.window]),
                             model.window)  # fmt: skip
    names = ("past", "observed", "covariates", "calendar")
    got = graph(*(inputs[n] for n in names))
    expected = [torch.from_numpy(a[None]) for a in (forecast.central, forecast.lower,
                                                    forecast.upper)]  # fmt: skip
    _close(got, expected, f"forecast {fmt}: as rnnkit.load(run).forecast()")
    for batch, steps in SHAPES:  # any batch and window, against the graph's own module
        steps = max(steps, 12)  # the window holds the seasonal lag, a year of months
        random = [torch.randn(batch, steps, 1), torch.ones(batch, steps, 2),
                  torch.randn(batch, steps, 1), torch.randn(batch, steps + 6, 2)]  # fmt: skip
        with torch.no_grad():
            _close(graph(*random), module(*random), f"forecast {fmt} {(batch, steps)}")


@pytest.mark.parametrize("fmt", FORMATS)
def test_seq2seq_encoder_and_decoder_step_decode_outside_pytorch(runs, fmt, tmp_path):
    graphs = _export(runs, "seq2seq", fmt, tmp_path)
    model = rnnkit.load(runs / "seq2seq")
    net = model.model
    for batch, steps in SHAPES:
        source, lengths = (
            torch.randint(4, len(model.source), (batch, steps)),
            _lengths(batch, steps),
        )
        values, keys, mask, h, feed = graphs["encoder"](source, lengths)
        with torch.no_grad():
            memory, state = net.encode(source, lengths)
            token = torch.full((batch,), 2)
            logits, after, weights = net.step(token, state, memory)
        _close([values, keys, mask, h, feed], [*memory, *state.cell, state.feed], "encoder")
        got = graphs["decoder_step"](token, h, feed, values, keys, mask)
        _close(got, [logits, *after.cell, after.feed, weights], f"decoder step {fmt}")
    # Greedy decoding with the two graphs alone gives what translate(beam=1) gives.
    word = "abcab"
    ids = torch.tensor([model.source.encode(word, strict=True)])
    values, keys, mask, h, feed = graphs["encoder"](ids, torch.tensor([ids.shape[1]]))
    token, output = torch.tensor([2]), []
    for _ in range(2 * ids.shape[1] + 10):
        logits, h, feed, _ = graphs["decoder_step"](token, h, feed, values, keys, mask)
        token = logits.argmax(-1)
        if int(token) == 3:  # EOS
            break
        output.append(int(token))
    assert model.target.decode(output) == model.translate(word, beam=1).text


def test_export_errors_are_one_line_and_write_nothing(runs, tmp_path, capsys):
    run = runs / "sentiment"
    existing = tmp_path / "taken.onnx"
    existing.write_text("keep me")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "task.json").write_text("{not json")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "task.json").write_text(json.dumps({"task": "poetry", "config": {}}))
    no_weights = tmp_path / "no_weights"
    no_weights.mkdir()
    (no_weights / "task.json").write_text((run / "task.json").read_text())
    (no_weights / "tokenizer.json").write_text((run / "tokenizer.json").read_text())
    cases = [
        (tmp_path / "missing", "does not exist"),
        (damaged, "task.json is damaged"),
        (foreign, "names a task rnnkit does not know ('poetry')"),
        (no_weights, "model.safetensors is missing"),
    ]
    for directory, message in cases:
        assert _main("export", directory, "--out", tmp_path / "x.onnx") == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert _main("export", run, "--out", existing) == 2
    assert "pass --overwrite" in capsys.readouterr().err and existing.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["taken.onnx"]
    with pytest.raises(ValueError, match="task.json is damaged"):
        rnnkit.load(damaged)
    with pytest.raises(ValueError, match="model.safetensors is missing"):
        rnnkit.load(no_weights)


def test_the_readme_samples_an_exported_charlm_with_numpy_alone(runs, tmp_path, capsys):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    (block,) = [b for b in re.findall(r"```py\n(.*?)```", readme, re.DOTALL) if "ort." in b]
    assert _main("export", runs / "charlm", "--out", tmp_path / "charlm.onnx") == 0
    capsys.readouterr()
    code = block.replace("runs/charlm/", f"{runs / 'charlm'}/").replace(
        '"charlm.onnx"', repr(str(tmp_path / "charlm.onnx"))
    )
    exec(compile(code, "README.md", "exec"), {})
    text = capsys.readouterr().out
    assert text.startswith("ROMEO:") and len(text) == len("ROMEO:") + 200 + 1
