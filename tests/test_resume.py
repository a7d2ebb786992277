"""``--resume`` continues a run only with what the run was started with: another model
setting or data that tokenizes differently is a one-line error (status 2) naming each
difference, and the run is left as it was; how long it trains may change."""

from __future__ import annotations

import json

import pytest

from rnnkit.cli import main

SMALL = ["--hidden", "8", "--embedding-dim", "8", "--quiet", "--batch-size", "4"]
TEXT = "ROMEO:\nBut soft, what light.\n\nJULIET:\nAy me.\n" * 40


def _run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def _snapshot(run):
    return {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}


@pytest.fixture
def charlm_run(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT)
    out = tmp_path / "lm"
    argv = ["train", "charlm", "--data", corpus, "--out", out, "--steps", "20", "--layers", "1",
            "--validate-chars", "200", *SMALL]  # fmt: skip
    assert _run(capsys, *argv, "--epochs", "1")[0] == 0
    return argv, out


def test_resume_with_another_model_setting_names_it_and_changes_nothing(charlm_run, capsys):
    argv, out = charlm_run
    before = _snapshot(out)
    status, _, err = _run(capsys, *argv, "--resume", "--hidden", "16", "--lr", "0.01")
    assert status == 2 and err.count("\n") == 1
    assert "--hidden 8 (given 16)" in err and "--lr 0.002 (given 0.01)" in err
    assert _snapshot(out) == before


def test_resume_on_data_with_other_characters_names_them(charlm_run, capsys, tmp_path):
    argv, out = charlm_run
    other = tmp_path / "other.txt"
    other.write_text(TEXT.replace("Ay", "Zy"))  # a Z, and no A left
    before = _snapshot(out)
    data = argv.index("--data") + 1
    changed = [*argv[:data], other, *argv[data + 1 :]]
    status, _, err = _run(capsys, *changed, "--resume")
    assert status == 2 and err.count("\n") == 1
    assert "the data gives other tokens (new 'Z', no 'A')" in err and "--data" in err
    assert _snapshot(out) == before


def test_resume_with_the_same_settings_trains_on(charlm_run, capsys):
    argv, out = charlm_run
    steps = json.loads((out / "task.json").read_text())["extra"]["steps"]
    status, text, _ = _run(capsys, *argv, "--resume", "--epochs", "2")  # longer: allowed
    assert status == 0 and "bits per character" in text
    assert json.loads((out / "task.json").read_text())["extra"]["steps"] > steps
    started = json.loads((out / "settings.json").read_text())
    assert started["config"]["hidden"] == 8 and started["made"]["tokens"][:2] == ["<pad>", "<unk>"]
