"""The task commands end to end on tiny data: train, evaluate, predict, generate; the run
directory; and bad input -> one line on stderr, status 2, nothing written or changed."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.cli import main
from rnnkit.data.pretrained import pretrained_embeddings

SMALL = ["--hidden", "8", "--embedding-dim", "8", "--quiet", "--batch-size", "4"]


def _run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def reviews(tmp_path):
    good = ["great fun", "a joy", "wonderful and warm", "truly great", "so much fun"]
    bad = ["dull", "a bore", "awful and cold", "truly awful", "so much noise"]
    rows = [f"{t},pos" for t in good * 3] + [f"{t},neg" for t in bad * 3]
    path = tmp_path / "reviews.csv"
    path.write_text("text,label\n" + "\n".join(rows) + "\n")
    return path


def test_sentiment_train_evaluate_predict(tmp_path, capsys, reviews):
    out = tmp_path / "run"
    status, text, _ = _run(
        capsys, "train", "sentiment", "--data", reviews, "--epochs", "3", "--out", out, *SMALL
    )
    assert status == 0 and "accuracy" in text
    assert {p.name for p in out.iterdir()} >= {
        "task.json",
        "tokenizer.json",
        "model.safetensors",
        "metrics.jsonl",
    }
    assert json.loads((out / "task.json").read_text())["config"]["hidden"] == 8
    status, text, _ = _run(capsys, "evaluate", out, "--data", reviews)
    assert status == 0 and "30 examples" in text
    # Fitted on the 24 training rows, which hold every text of the file: all right.
    assert text.endswith("baselines fitted on the training split, same examples: "
                         "TF-IDF + LR 100.00%, NBSVM 100.00%\n")  # fmt: skip
    status, text, _ = _run(
        capsys, "predict", out, "Truly great fun", "--trace", "--plot", tmp_path / "t.png"
    )
    assert status == 0 and (tmp_path / "t.png").stat().st_size > 1000
    rows = text.splitlines()[2:5]
    assert [r.split()[0] for r in rows] == ["truly", "great", "fun"]
    loaded = rnnkit.load(out)  # the last row of the trace is the model's prediction
    ids = torch.tensor([loaded.tokenizer.encode("Truly great fun")])
    with torch.no_grad():
        final = loaded.model(ids).softmax(-1)[0]
    assert [f"{float(p):.3f}" for p in final] == rows[-1].split()[1:]


def test_sentiment_with_pretrained_embeddings(tmp_path, capsys, reviews):
    out = tmp_path / "run"
    train = ["train", "sentiment", "--data", reviews, "--epochs", "1", "--out", out]
    pretrained = ["--pretrained", "minilm", "--lr", "1e-12"]  # the weights stay put
    status, text, _ = _run(capsys, *train, *pretrained, *SMALL)
    assert status == 0 and "accuracy" in text
    run = json.loads((out / "task.json").read_text())
    assert run["config"]["embedding_dim"] == 384 and run["extra"]["pretrained_coverage"] == 1.0
    loaded = rnnkit.load(out)
    table, _ = pretrained_embeddings(loaded.tokenizer.tokens)
    torch.testing.assert_close(loaded.model.inputs.weight, table, rtol=0, atol=1e-6)
    with pytest.raises(SystemExit) as stop:  # argparse's own errors exit with status 2
        main(["train", "seqclass", "--pretrained", "minilm", "--out", str(out)])
    assert stop.value.code == 2
    assert "unrecognized arguments: --pretrained" in capsys.readouterr().err


def test_sentiment_reads_subwords_and_spells_unseen_words_with_them(tmp_path, capsys, reviews):
    out = tmp_path / "run"
    train = ["train", "sentiment", "--data", reviews, "--epochs", "2", "--out", out, *SMALL]
    status, _, err = _run(capsys, *train, "--tokens", "subword", "--pretrained", "minilm")
    assert status == 2 and "--tokens subword" in err and "--pretrained none" in err
    assert not out.exists()
    status, text, _ = _run(capsys, *train, "--tokens", "subword")  # random embeddings
    assert status == 0 and "accuracy" in text
    config = json.loads((out / "task.json").read_text())["config"]
    assert (config["tokens"], config["pretrained"], config["embedding_dim"]) == ("subword", None, 8)
    loaded = rnnkit.load(out)
    assert json.loads((out / "tokenizer.json").read_text())["kind"] == "subword"
    trace = loaded.trace("truly greatness")  # "greatness" never seen whole
    assert "".join(trace.steps) == "\u2581truly\u2581greatness" and len(trace.steps) > 2
    assert 1 not in loaded.tokenizer.encode("truly greatness")
    ids = torch.tensor([loaded.tokenizer.encode("truly greatness")])
    with torch.no_grad():
        torch.testing.assert_close(trace.probabilities[-1], loaded.model(ids).softmax(-1)[0])


def test_frozen_pretrained_embeddings_stay_fixed(tmp_path, capsys, reviews):
    out = tmp_path / "run"
    train = ["train", "sentiment", "--data", reviews, "--epochs", "2", "--out", out, *SMALL]
    status, _, err = _run(capsys, *train, "--pretrained", "none", "--freeze-embeddings")
    assert status == 2 and "--freeze-embeddings" in err and "--pretrained minilm" in err
    assert not out.exists()
    status, _, _ = _run(capsys, *train, "--pretrained", "minilm", "--freeze-embeddings")
    assert status == 0
    loaded = rnnkit.load(out)
    model, tokenizer = loaded.model, loaded.tokenizer  # as trained: before any new word
    table, _ = pretrained_embeddings(tokenizer.tokens)
    torch.testing.assert_close(model.inputs.weight, table, rtol=0, atol=0)
    assert json.loads((out / "task.json").read_text())["config"]["freeze_embeddings"] is True
    # A word never seen in training is read with its pretrained vector, not as <unk>: the
    # same text scored by the model given that vector by hand.
    trace = loaded.trace("truly moviegoers")
    probabilities = trace.probabilities
    assert trace.steps == ["truly", "moviegoers"]
    (vector,) = pretrained_embeddings(["moviegoers"])[0]
    embedded = torch.stack((model.inputs.weight[tokenizer.index["truly"]], vector))
    with torch.no_grad():
        y, _ = model.stack(embedded.unsqueeze(0))
        expected = model.head(model.pool(y, torch.tensor([2]))).softmax(-1)[0]
    torch.testing.assert_close(probabilities[-1], expected)
    snowman = loaded.trace("truly \u2603").probabilities  # no pieces: <unk>, another answer
    assert not torch.allclose(snowman[-1], probabilities[-1])
    status, text, _ = _run(capsys, "evaluate", out, "--data", reviews)
    assert status == 0 and "30 examples" in text


def test_an_existing_run_is_kept_unless_asked(tmp_path, capsys, reviews):
    out = tmp_path / "run"
    _run(capsys, "train", "sentiment", "--data", reviews, "--epochs", "1", "--out", out, *SMALL)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    status, _, err = _run(capsys, "train", "sentiment", "--data", reviews, "--out", out, *SMALL)
    assert status == 2 and "pass --resume to continue it or --overwrite" in err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    status, _, err = _run(
        capsys, "train", "charlm", "--data", reviews, "--out", out, "--resume", *SMALL
    )
    assert status == 2 and "a sentiment run, not charlm" in err
    for task, data in (("sentiment", tmp_path / "missing.csv"), ("charlm", tmp_path / "no.txt")):
        status, _, err = _run(capsys, "train", task, "--data", data, "--out", out, "--overwrite")
        assert status == 2 and "does not exist" in err  # bad data: the old run stays
        assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    status, _, _ = _run(
        capsys,
        "train",
        "sentiment",
        "--data",
        reviews,
        "--epochs",
        "1",
        "--out",
        out,
        "--overwrite",
        *SMALL,
    )
    assert status == 0


def test_charlm_generates_from_a_prime_and_names_unseen_characters(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("ROMEO:\nBut soft, what light.\n\nJULIET:\nAy me.\n" * 40)
    out = tmp_path / "lm"
    status, text, _ = _run(
        capsys, "train", "charlm", "--data", corpus, "--out", out, "--steps", "20", "--layers", "1",
        "--epochs", "2", "--validate-chars", "200", *SMALL,
    )  # fmt: skip
    assert status == 0 and "bits per character" in text
    # The corpus repeats one passage: an n-gram of its first 80 % predicts the rest.
    baseline = re.search(r"a Kneser-Ney ([5-8])-gram .*, (\d+\.\d+) bits per character", text)
    assert baseline and float(baseline[2]) < 0.3
    status, first, _ = _run(
        capsys, "generate", out, "--prime", "ROMEO:", "--length", "40", "--seed", "3"
    )
    _, again, _ = _run(
        capsys, "generate", out, "--prime", "ROMEO:", "--length", "40", "--seed", "3"
    )
    assert (
        status == 0
        and first == again
        and first.startswith("ROMEO:")
        and len(first) == len("ROMEO:") + 40 + 1
    )
    model = rnnkit.load(out)  # the same sample through the Python API
    assert model.generate("ROMEO:", 40, temperature=0.8, seed=3) == first.rstrip("\n")
    status, _, err = _run(capsys, "generate", out, "--prime", "ROMEO: ¿Zé?")
    assert status == 2 and "characters never seen in training: '?''Z''¿''é'" in err


def test_seqclass_from_npz(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 9, 3)).astype(np.float32)
    y = np.array([k % 2 for k in range(40)])
    X[y == 1] += 2.0  # separable
    path = tmp_path / "seq.npz"
    np.savez(path, X=X, lengths=rng.integers(3, 10, size=40), y=y)
    out = tmp_path / "sc"
    status, text, _ = _run(
        capsys, "train", "seqclass", "--data", path, "--epochs", "8", "--out", out, *SMALL
    )
    assert status == 0 and "accuracy" in text


@pytest.mark.parametrize(
    ("files", "argv", "message"),
    [
        ({"c.txt": ""}, ["train", "charlm", "--data", "c.txt"], "is empty"),
        (
            {"r.csv": "text,score\na,1\n"},
            ["train", "sentiment", "--data", "r.csv"],
            "no column 'label'",
        ),
        (
            {"r.csv": "text,label\na,x\nb,x\n"},
            ["train", "sentiment", "--data", "r.csv"],
            "a single class",
        ),
        (
            {"r.csv": "text,label\na,x\nb,\n"},
            ["train", "sentiment", "--data", "r.csv"],
            "line 3: the label",
        ),
        ({}, ["train", "sentiment", "--data", "missing.csv"], "does not exist"),
        ({}, ["evaluate", "nowhere"], "model directory nowhere does not exist"),
        ({"emptydir/keep.txt": "x"}, ["predict", "emptydir", "hi"], "holds no trained model"),
    ],
)
def test_bad_input_is_one_line_and_status_2(tmp_path, capsys, monkeypatch, files, argv, message):
    monkeypatch.chdir(tmp_path)
    for name, content in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(content)
    status, _, err = _run(capsys, *argv, *(["--out", "run", *SMALL] if argv[0] == "train" else []))
    assert status == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_demo_trains_both_models_and_traces_both_sentences(tmp_path, capsys):
    from rnnkit.demo import main as demo

    demo(["--budget", "2s", "--hidden", "8", "--out", str(tmp_path)])
    text = capsys.readouterr().out
    # (what follows "ROMEO:" depends on how many steps 2 s allow: not checked)
    assert "bits per character" in text and "\n\nROMEO:" in text and "accuracy" in text
    for sentence in ("He ate the pie happily", "He ate the pie angrily"):
        assert f"'{sentence}': P(positive) after each word" in text
    assert text.count("\n  pie ") == 2
    assert (tmp_path / "charlm" / "model.safetensors").exists()


def test_the_saved_classifier_is_its_best_validation_epoch(tmp_path, capsys, reviews):
    out = tmp_path / "run"
    argv = ["train", "sentiment", "--data", reviews, "--epochs", "6", "--lr", "0.05", "--out", out]
    assert _run(capsys, *argv, *SMALL)[0] == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    errors = [r["validation"] for r in records if "validation" in r]
    run = json.loads((out / "task.json").read_text())
    assert len(errors) == 6 and run["extra"]["best_validation_error"] == min(errors)


def test_charlm_cosine_schedule_decays_the_rate_to_near_zero(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("ROMEO:\nBut soft, what light.\n\nJULIET:\nAy me.\n" * 40)
    out = tmp_path / "lm"
    status, _, _ = _run(
        capsys, "train", "charlm", "--data", corpus, "--out", out, "--steps", "20", "--layers", "1",
        "--epochs", "2", "--validate-chars", "200", "--schedule", "cosine", *SMALL,
    )  # fmt: skip
    assert status == 0
    rates = [json.loads(line)["lr"] for line in (out / "metrics.jsonl").read_text().splitlines()
             if '"lr"' in line]  # fmt: skip
    assert rates[0] > 2e-3 * 0.9 and rates[-1] < 2e-3 * 0.05
    assert json.loads((out / "task.json").read_text())["config"]["schedule"] == "cosine"


def test_label_smoothing_keeps_the_classifier_loss_above_its_floor(tmp_path, capsys, reviews):
    """With smoothing 0.2 over two classes the target is (0.9, 0.1): no prediction scores
    below its entropy, -(0.9 ln 0.9 + 0.1 ln 0.1) = 0.325 nats; without smoothing the
    separable reviews are learnt to a loss far below it."""
    floor = -(0.9 * math.log(0.9) + 0.1 * math.log(0.1))
    last = {}
    for smoothing in ("0", "0.2"):
        out = tmp_path / smoothing
        argv = ["train", "sentiment", "--data", reviews, "--epochs", "25", "--lr", "0.05",
                "--dropout", "0", "--label-smoothing", smoothing, "--out", out]  # fmt: skip
        assert _run(capsys, *argv, *SMALL)[0] == 0
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        losses = [r["loss"] for r in records if "loss" in r]
        assert min(losses) >= (floor - 1e-4 if smoothing == "0.2" else 0)
        last[smoothing] = losses[-1]
    assert last["0"] < floor / 3 < floor < last["0.2"] + 1e-4
    settings = json.loads((tmp_path / "0.2" / "settings.json").read_text())
    assert settings["config"]["label_smoothing"] == 0.2
