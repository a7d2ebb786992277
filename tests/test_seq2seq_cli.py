"""rnnkit train seq2seq|g2p, rnnkit translate and rnnkit evaluate on a seq2seq run, end to
end on a small file, and their errors."""

from __future__ import annotations

import json

import pytest
import torch

import rnnkit
from rnnkit.cli import main
from rnnkit.data.pairs import load_pairs
from rnnkit.tasks import seq2seq as task

SMALL = ["--hidden", "24", "--embedding-dim", "12", "--batch-size", "16", "--quiet"]


def _copy_tsv(path, count=240):
    """Words over four letters, each with itself spaced out as the target: a task a small
    model learns within seconds."""
    generator = torch.Generator().manual_seed(0)
    words = set()
    while len(words) < count:
        length = int(torch.randint(2, 6, (1,), generator=generator))
        words.add(
            "".join("abcd"[int(k)] for k in torch.randint(0, 4, (length,), generator=generator))
        )
    path.write_text(
        "".join(f"{w}\t{' '.join(w.upper())}\n" for w in sorted(words)), encoding="utf-8"
    )
    return path


def _run(capsys, *argv):
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    directory = tmp_path_factory.mktemp("seq2seq")
    data, out = _copy_tsv(directory / "copy.tsv"), directory / "run"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: one thread is fastest
    try:
        status = main(["train", "seq2seq", "--data", str(data), "--source-tokens", "char",
                       "--target-tokens", "word", "--epochs", "30", "--lr", "0.005",
                       "--out", str(out), *SMALL])  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    assert status == 0
    return data, out


def test_train_translate_and_evaluate(trained, capsys, tmp_path):
    data, out = trained
    run = json.loads((out / "task.json").read_text())
    assert run["task"] == "seq2seq" and run["config"]["target_tokens"] == "word"
    assert run["extra"]["target_tokenizer"]["tokens"][:4] == ["<pad>", "<unk>", "<s>", "</s>"]
    status, text, _ = _run(capsys, "translate", out, "dacb", "--plot", tmp_path / "a.png")
    assert status == 0 and text.splitlines()[0] == "dacb -> D A C B"
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    status, text, _ = _run(capsys, "evaluate", out)
    assert status == 0 and "greedy: word error rate" in text and "beam 5:" in text
    scores = task.score_seq2seq(out)
    assert scores["examples"] == len(load_pairs(str(data)).test)
    assert scores[1]["wer"] <= 0.2 and scores[5]["wer"] <= 0.2
    # chrF is case-sensitive: the lower-case source shares no character with its upper-case
    # target, and every test word is new to the dictionary, which then copies it.
    assert scores[1]["chrf"] > 80 and scores[5]["chrf"] > 80
    assert scores["baselines"] == {"copy the source": 0.0,
                                   "word-by-word dictionary of the training pairs": 0.0}
    assert text.splitlines()[-1] == ("baselines, chrF on the same sources: copy the source 0.0, "
                                     "word-by-word dictionary of the training pairs 0.0")


def test_translate_errors(trained, capsys, tmp_path):
    _, out = trained
    status, _, err = _run(capsys, "translate", out, "xyz")
    assert status == 2 and "never seen in training: 'x''y''z'" in err
    status, _, err = _run(capsys, "translate", out, "  ")
    assert status == 2 and "the text is empty" in err
    status, _, err = _run(capsys, "translate", tmp_path / "none", "abc")
    assert status == 2 and "does not exist" in err


@pytest.mark.parametrize(
    ("lines", "message"),
    [("ab\tA B\nab A B\n", "line 2: expected source<TAB>target, no tab"),
     ("ab\tA B\nabc\t \n", "line 2: the target is empty")],
)  # fmt: skip
def test_a_bad_line_stops_training_and_keeps_the_old_run(trained, capsys, tmp_path, lines,
                                                         message):  # fmt: skip
    _, out = trained
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    bad = tmp_path / "bad.tsv"
    bad.write_text(lines, encoding="utf-8")
    status, text, err = _run(capsys, "train", "seq2seq", "--data", bad, "--out", out,
                             "--overwrite", *SMALL)  # fmt: skip
    assert status == 2 and text == ""
    assert err.strip() == f"rnnkit: error: {bad}, {message}"
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    status, _, err = _run(capsys, "train", "seq2seq", "--data", bad, "--out", tmp_path / "new")
    assert status == 2 and not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--sampling", "1.5", "--sampling"), ("--length-penalty", "-1", "--length-penalty"),
     ("--attention", "dot", "--attention"), ("--beam", "0", "--beam"),
     ("--label-smoothing", "1", "--label-smoothing")],
)  # fmt: skip
def test_bad_options_are_named(capsys, tmp_path, option, value, message):
    with pytest.raises(SystemExit) as stop:
        main(["train", "g2p", option, value, "--out", str(tmp_path / "run")])
    assert stop.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_g2p_reads_cmudict_letters_to_phonemes(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(
        task, "train_seq2seq", lambda config, *rest: seen.setdefault("c", config) and ""
    )
    assert main(["train", "g2p", "--attention", "multiplicative", "--sampling", "0.25",
                 "--no-bidirectional", "--label-smoothing", "0.2",
                 "--out", str(tmp_path / "run")]) == 0  # fmt: skip
    config = seen["c"]
    assert (config.task, config.data, config.source_tokens, config.target_tokens) == (
        "g2p", "cmudict", "char", "word")  # fmt: skip
    assert config.attention == "multiplicative" and config.sampling == 0.25
    assert not config.bidirectional and config.label_smoothing == 0.2
    source, target = task.fit_tokenizers(config, [("Read", ["R IY D"])])
    assert source.encode("READ") == source.encode("read")  # spellings are lower-cased
    assert target.encode("R IY D") == [target.index[p] for p in ("R", "IY", "D")]


def test_defaults_g2p_two_encoder_layers_seq2seq_words_more_dropout_and_patience(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(task, "train_seq2seq", lambda config, *rest: seen.append(config) or "")
    assert main(["train", "g2p", "--out", str(tmp_path / "g2p")]) == 0
    assert main(["train", "seq2seq", "--data", "pairs.tsv", "--out", str(tmp_path / "s")]) == 0
    g2p, seq2seq = seen
    assert (g2p.layers, g2p.label_smoothing, g2p.epochs, g2p.schedule) == (2, 0.1, 6, "cosine")
    assert (g2p.dropout, g2p.patience) == (0.1, 5)
    assert (seq2seq.layers, seq2seq.label_smoothing, seq2seq.dropout, seq2seq.patience) == (
        1, 0.1, 0.3, 10)
    assert (seq2seq.source_tokens, seq2seq.target_tokens) == ("word", "word")


def test_load_translates_what_the_cli_prints(trained, capsys):
    _, out = trained
    translation = rnnkit.load(out).translate("abcd", beam=1)
    assert translation.source == list("abcd")
    assert translation.attention.shape == (len(translation.output), 4)
    status, text, _ = _run(capsys, "translate", out, "abcd", "--beam", "1")
    assert status == 0 and text.strip() == f"abcd -> {translation.text}"


def test_subwords_on_both_sides_are_fitted_saved_and_joined_back(tmp_path, capsys):
    words = ["play", "played", "playing", "replay", "player", "work", "worked", "working"]
    data = tmp_path / "pairs.tsv"  # each sentence to itself, upper-cased
    data.write_text("".join(f"we {a} {b}\tWE {a.upper()} {b.upper()}\n"
                            for a in words for b in words))  # fmt: skip
    out = tmp_path / "run"
    status, _, _ = _run(capsys, "train", "seq2seq", "--data", data, "--source-tokens", "subword",
                        "--target-tokens", "subword", "--epochs", "30", "--lr", "0.005",
                        "--out", out, *SMALL)  # fmt: skip
    assert status == 0
    loaded = rnnkit.load(out)
    assert (loaded.source.kind, loaded.target.kind) == ("subword", "subword")
    translation = loaded.translate("We replay worked", beam=1)  # a training sentence
    assert "".join(translation.source) == "\u2581we\u2581replay\u2581worked"
    assert translation.text == "WE REPLAY WORKED"
