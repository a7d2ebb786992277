"""The ``rnnkit`` command line."""

from __future__ import annotations

import pytest

from rnnkit.cli import main


def test_diagnose_writes_its_files_and_prints_the_summary(tmp_path, capsys):
    args = ["diagnose", "--cells", "rnn,gru", "--length", "30", "--steps", "5", "--hidden", "8",
            "--out", str(tmp_path), "--quiet"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "rnn   reach" in printed and "gru   reach" in printed
    assert (tmp_path / "summary.txt").read_text() in printed
    assert (tmp_path / "gradient_by_lag.png").exists()


@pytest.mark.parametrize(
    "args, message",
    [(["diagnose", "--cells", "rnn,transformer"], "expected some of rnn,lstm,gru"),
     (["diagnose", "--steps", "0"], "expected a positive integer")],
)  # fmt: skip
def test_bad_arguments_are_named(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("10m", 600), ("1.5h", 5400)])
def test_durations(text, seconds):
    from rnnkit.arguments import duration

    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["", "ten minutes", "0s", "-5m"])
def test_bad_durations_say_what_is_expected(text):
    import argparse

    from rnnkit.arguments import duration

    with pytest.raises(argparse.ArgumentTypeError, match="duration"):
        duration(text)


@pytest.mark.parametrize(
    "task, options, epochs",
    [("sentiment", [], None), ("sentiment", ["--time-budget", "5m"], None),
     ("sentiment", ["--time-budget", "5m", "--epochs", "3"], 3), ("charlm", [], 1),
     ("charlm", ["--time-budget", "15m"], None), ("g2p", ["--time-budget", "30m"], None),
     ("forecast", [], 300), ("generator", ["--time-budget", "1m"], None),
     ("adding", ["--time-budget", "1m"], None), ("speech", [], 40)],
)  # fmt: skip
def test_a_time_budget_without_epochs_means_train_until_the_budget(task, options, epochs):
    from rnnkit.arguments import resolve_epochs
    from rnnkit.cli import parser

    out = ["--run-dir" if task == "adding" else "--out", "run"]
    args = parser().parse_args(["train", task, *options, *out])
    resolve_epochs(args)
    assert args.epochs == epochs


def test_train_adding_then_resume_continues_the_run(tmp_path, capsys):
    common = ["train", "adding", "--cell", "gru", "--length", "20", "--hidden", "8",
              "--steps-per-epoch", "5", "--run-dir", str(tmp_path), "--quiet"]  # fmt: skip
    assert main([*common, "--epochs", "1"]) == 0
    assert capsys.readouterr().out.startswith("5 steps, 1 epochs (epochs)")
    assert main([*common, "--epochs", "3", "--resume"]) == 0
    assert capsys.readouterr().out.startswith("15 steps, 3 epochs (epochs)")
    assert sorted(p.name for p in tmp_path.glob("ckpt-*.pt"))[-1] == "ckpt-000000015.pt"
    assert (tmp_path / "metrics.jsonl").exists()
