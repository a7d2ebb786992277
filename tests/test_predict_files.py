"""``rnnkit.load(run)`` of the classifiers and ``rnnkit predict RUN --input FILE``: a whole
file in one process, as CSV, with the same numbers as the predictor's own methods."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.cli import main
from rnnkit.tasks.classify import ClassifierPredictor, Prediction

SMALL = ["--hidden", "8", "--embedding-dim", "8", "--quiet", "--batch-size", "4"]


def _run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture(scope="module")
def sentiment(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sentiment")
    good = ["great fun", "a joy", "wonderful and warm", "truly great", "so much fun"]
    bad = ["dull", "a bore", "awful and cold", "truly awful", "so much noise"]
    rows = [f"{t},pos" for t in good * 3] + [f"{t},neg" for t in bad * 3]
    data = tmp / "reviews.csv"
    data.write_text("review,label\n" + "\n".join(rows) + "\n")
    out = tmp / "run"
    argv = ["train", "sentiment", "--data", data, "--text-column", "review", "--epochs", "3"]
    assert main([str(a) for a in [*argv, "--out", out, *SMALL]]) == 0
    return out


@pytest.fixture(scope="module")
def seqclass(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("seqclass")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 9, 3)).astype(np.float32)
    y = np.array([k % 2 for k in range(40)])
    X[y == 1] += 2.0
    data = tmp / "seq.npz"
    np.savez(data, X=X, lengths=rng.integers(3, 10, size=40), y=y)
    out = tmp / "run"
    argv = ["train", "seqclass", "--data", data, "--epochs", "4", "--out", out, *SMALL]
    assert main([str(a) for a in argv]) == 0
    return out


def test_load_gives_the_classifier_predictor(sentiment):
    model = rnnkit.load(sentiment)
    assert isinstance(model, ClassifierPredictor) and model.classes == ["neg", "pos"]
    one = model.predict("so much fun")
    many = model.predict(["so much fun", "a bore"])
    assert isinstance(one, Prediction) and one == many[0] and len(many) == 2
    assert one.label == max(one.probabilities, key=one.probabilities.get)
    assert sum(one.probabilities.values()) == pytest.approx(1.0)
    trace = model.trace("so much fun")
    assert trace.steps == ["so", "much", "fun"]  # its last row is the whole text's prediction
    torch.testing.assert_close(
        trace.probabilities[-1], torch.tensor(list(one.probabilities.values()))
    )
    with pytest.raises(ValueError, match="reads texts"):
        model.predict([3.0])


def test_predict_a_csv_and_a_text_file(sentiment, capsys, tmp_path):
    model = rnnkit.load(sentiment)
    texts = ["so much fun", "awful and cold", "a joy to watch"]
    table = tmp_path / "new.csv"
    table.write_text("id,review\n" + "".join(f"{k},{t}\n" for k, t in enumerate(texts)))
    status, out, _ = _run(capsys, "predict", sentiment, "--input", table)
    rows = _rows(out)
    assert status == 0 and [r["text"] for r in rows] == texts
    assert [r["line"] for r in rows] == ["2", "3", "4"]
    for row, prediction in zip(rows, model.predict(texts), strict=True):
        assert row["label"] == prediction.label
        assert float(row["p_pos"]) == pytest.approx(prediction.probabilities["pos"], abs=1e-6)
    lines = tmp_path / "new.txt"
    lines.write_text("so much fun\n\nawful and cold\n")
    result = tmp_path / "out.csv"
    status, out, _ = _run(capsys, "predict", sentiment, "--input", lines, "--output", result)
    assert status == 0 and "2 predictions written" in out
    assert [r["line"] for r in _rows(result.read_text())] == ["1", "3"]


def test_predict_sequences_from_npz_and_long_csv(seqclass, capsys, tmp_path):
    model = rnnkit.load(seqclass)
    rng = np.random.default_rng(1)
    X = rng.normal(size=(5, 6, 3)).astype(np.float32)
    X[::2] += 2.0
    lengths = np.array([6, 3, 4, 6, 2])
    data = tmp_path / "new.npz"
    np.savez(data, X=X, lengths=lengths)
    status, out, _ = _run(capsys, "predict", seqclass, "--input", data)
    rows = _rows(out)
    expected = model.predict([X[k, : lengths[k]] for k in range(5)])
    assert status == 0 and [r["sequence"] for r in rows] == ["0", "1", "2", "3", "4"]
    assert [r["label"] for r in rows] == [p.label for p in expected]
    # The same sequences in long format (ids, steps shuffled, a label column ignored).
    lines = ["id,time,label,a,b,c"]
    for k in range(5):
        for t in reversed(range(lengths[k])):
            lines.append(f"s{k},{t},x," + ",".join(f"{v:.9g}" for v in X[k, t]))
    table = tmp_path / "new.csv"
    table.write_text("\n".join(lines) + "\n")
    status, out, _ = _run(capsys, "predict", seqclass, "--input", table)
    rows = _rows(out)
    assert status == 0 and [r["sequence"] for r in rows] == [f"s{k}" for k in range(5)]
    for row, prediction in zip(rows, expected, strict=True):
        assert float(row["p_1"]) == pytest.approx(prediction.probabilities["1"], abs=1e-5)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["great"], "is a seqclass model: pass its sequences as --input"),
        ([], "either a TEXT or --input FILE"),
        (["--input", "x.npz", "--trace"], "--trace and --plot are for one TEXT"),
    ],
)
def test_predict_errors_are_one_line(seqclass, capsys, argv, message):
    status, _, err = _run(capsys, "predict", seqclass, *argv)
    assert status == 2 and message in err and err.count("\n") == 1


def test_a_nan_in_the_input_file_is_named(seqclass, capsys, tmp_path):
    X = np.zeros((3, 4, 3), dtype=np.float32)
    X[2, 1, 0] = np.nan
    data = tmp_path / "bad.npz"
    np.savez(data, X=X)
    status, _, err = _run(capsys, "predict", seqclass, "--input", data)
    assert status == 2 and "X[2] has NaN at step 1, channel 0" in err
