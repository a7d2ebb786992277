"""rnnkit train generator and rnnkit generate --condition, end to end on tiny labelled
texts, and their errors."""

from __future__ import annotations

import json

import pytest

import rnnkit
from rnnkit.cli import main
from rnnkit.tasks.generator import GeneratorConfig, train_generator

SMALL = ["--hidden", "16", "--embedding-dim", "8", "--batch-size", "4", "--min-freq", "1",
         "--quiet"]  # fmt: skip


def _run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Positive texts say only "good", negative ones only "bad": the label decides."""
    directory = tmp_path_factory.mktemp("generator")
    rows = [f"the film is {word} {word},{label}"
            for word, label in (("good", "pos"), ("bad", "neg")) for _ in range(40)]  # fmt: skip
    data = directory / "reviews.csv"
    data.write_text("text,label\n" + "\n".join(rows) + "\n")
    out = directory / "run"
    config = GeneratorConfig(str(data), hidden=16, embedding_dim=8, min_freq=1, batch_size=8,
                             lr=0.01, epochs=25, patience=None)  # fmt: skip
    report = train_generator(config, out, False, False, True)
    return data, out, report


def test_generated_sentences_follow_the_condition(trained, capsys):
    _, out, report = trained
    assert "perplexity" in report and "with their own label" in report
    run = json.loads((out / "task.json").read_text())
    assert run["task"] == "generator" and run["extra"]["classes"] == ["neg", "pos"]
    for label, word in (("pos", "good"), ("neg", "bad")):
        status, text, _ = _run(capsys, "generate", out, "--condition", label, "--count", "3",
                               "--temperature", "0.2", "--seed", "1")  # fmt: skip
        assert status == 0 and text.splitlines() == [f"the film is {word} {word}"] * 3
    status, text, _ = _run(capsys, "generate", out, "--condition", "pos", "--prime", "the film",
                           "--count", "1", "--temperature", "0.2")  # fmt: skip
    assert status == 0 and text.strip() == "the film is good good"


def test_the_true_label_makes_the_test_text_likelier(trained):
    report = trained[2].splitlines()[-1]
    own, other = (float(part.split("perplexity ")[-1].split()[0]) if "perplexity" in part
                  else float(part.split()[0]) for part in report.split(", ", 1))  # fmt: skip
    assert own < 0.8 * other


def test_train_generator_command(tmp_path, capsys, trained):
    data = trained[0]
    status, text, _ = _run(capsys, "train", "generator", "--data", data, "--epochs", "1",
                           "--out", tmp_path / "g", *SMALL)  # fmt: skip
    assert status == 0 and "1 epochs" in text
    assert json.loads((tmp_path / "g" / "task.json").read_text())["config"]["min_freq"] == 1


def test_generate_errors(trained, capsys, tmp_path):
    _, out, _ = trained
    status, _, err = _run(capsys, "generate", out)
    assert status == 2 and "--condition is needed" in err
    status, _, err = _run(capsys, "generate", out, "--condition", "neutral")
    assert status == 2 and "--condition must be one of ['neg', 'pos'], got 'neutral'" in err
    status, _, err = _run(capsys, "generate", out, "--condition", "pos", "--prime", "zebra")
    assert status == 2 and "words never seen in training: 'zebra'" in err
    missing = tmp_path / "data.csv"
    status, _, err = _run(capsys, "train", "generator", "--data", missing, "--out", out,
                          "--overwrite", *SMALL)  # fmt: skip
    assert status == 2 and "does not exist" in err and (out / "task.json").exists()


def test_load_generates_what_the_cli_prints(trained, capsys):
    _, out, _ = trained
    model = rnnkit.load(out)
    assert model.task == "generator" and model.classes == ["neg", "pos"]
    sentences = model.generate("pos", count=3, temperature=0.2, seed=1)
    status, text, _ = _run(capsys, "generate", out, "--condition", "pos", "--count", "3",
                           "--temperature", "0.2", "--seed", "1")  # fmt: skip
    assert status == 0 and text.splitlines() == sentences
