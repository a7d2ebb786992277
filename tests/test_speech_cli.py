"""rnnkit train speech, rnnkit evaluate and rnnkit transcribe (whole and --stream) end to
end on a small directory of WAV files spoken by espeak-ng, and their errors: one line,
status 2, nothing written."""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest
from scipy.io import wavfile

import rnnkit
from rnnkit.cli import main
from rnnkit.data.speech_synthesis import Voice, synthesiser

WORDS = ("one", "two", "three")
SMALL = ["--hidden", "16", "--layers", "1", "--batch-size", "8", "--epochs", "3", "--quiet",
         "--time-budget", "60s"]  # fmt: skip


def _speak(folder, count=30, words=WORDS):
    """``count`` WAV files of 2-3 of ``words`` in three voices, with transcripts.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    speaker = synthesiser()
    rows = []
    for k in range(count):
        text = " ".join(words[int(i)] for i in rng.integers(0, len(words), rng.integers(2, 4)))
        samples = speaker.speak(text, Voice(f"en-us+m{1 + k % 3}"))
        wavfile.write(folder / f"u{k}.wav", speaker.sample_rate, samples)
        rows.append((f"u{k}.wav", text.upper() if k % 5 == 0 else text))
    with open(folder / "transcripts.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["path", "text"])
        writer.writerows(rows)
    return folder


def _run(capsys, *argv):
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A streaming and a bidirectional tiny run on the same WAV directory."""
    tmp = tmp_path_factory.mktemp("speech")
    data = _speak(tmp / "wavs")
    for name, extra in (("streaming", ["--streaming"]), ("bidirectional", [])):
        argv = ["train", "speech", "--data", data, "--out", tmp / name, *SMALL, *extra]
        assert main([str(a) for a in argv]) == 0, name
    return tmp


def test_training_writes_a_run_that_scores_and_loads(runs, capsys):
    status, out, err = _run(capsys, "evaluate", runs / "streaming")
    assert status == 0, err
    found = re.search(r"(\d+) utterances, CER ([\d.]+)%, WER ([\d.]+)%, whole strings right "
                      r"([\d.]+)%", out)  # fmt: skip
    assert found and int(found[1]) == 3, out  # 10 % of 30 utterances
    model = rnnkit.load(runs / "streaming")
    assert type(model).__name__ == "SpeechPredictor" and model.task == "speech"
    # the alphabet is the training transcripts' characters, upper case read as lower
    assert set(model.alphabet) <= set(" ehnortw") and " " in model.alphabet


def test_transcribe_prints_what_the_library_returns(runs, capsys):
    wav = runs / "wavs" / "u1.wav"
    for name in ("streaming", "bidirectional"):
        status, out, err = _run(capsys, "transcribe", runs / name, wav, "--beam", "1")
        assert status == 0, err
        assert out == f"{wav}: {rnnkit.load(runs / name).transcribe(wav, beam=1)}\n"


def test_stream_prints_partial_transcripts_and_the_time_per_chunk(runs, capsys):
    wav = runs / "wavs" / "u2.wav"
    status, out, err = _run(capsys, "transcribe", runs / "streaming", wav, "--stream")
    assert status == 0, err
    lines = out.strip().splitlines()
    timing = re.fullmatch(r"compute per 100 ms chunk: median ([\d.]+) ms, max ([\d.]+) ms "
                          r"over (\d+) chunks", lines[-1])  # fmt: skip
    rate, samples = wavfile.read(wav)
    chunks = -(-round(len(samples) * 16_000 / rate) // 1600)
    assert timing and int(timing[3]) == chunks, lines[-1]
    assert float(timing[1]) <= float(timing[2])
    final = lines[-2]
    assert final.startswith(f"{wav}: ")
    # the streamed transcript is the whole file's: the same model, step by step
    model = rnnkit.load(runs / "streaming")
    assert final == f"{wav}: {model.transcribe(wav)}"
    for line in lines[:-2]:  # partial transcripts, stamped with the audio read so far
        assert re.fullmatch(r" *\d+\.\d\d s  .*", line), line


def test_library_stream_equals_whole_greedy_decoding(runs):
    model = rnnkit.load(runs / "streaming")
    from rnnkit.data.audio import read_wav

    samples = read_wav(runs / "wavs" / "u3.wav")
    stream = model.stream(beam=1)
    for start in range(0, len(samples), 999):  # chunks that cut frames apart
        partial = stream.push(samples[start : start + 999])
    assert partial == stream.finish() == model.transcribe(samples, beam=1)


def _fails(capsys, *argv) -> str:
    status, out, err = _run(capsys, *argv)
    assert status == 2 and out == "", (status, out, err)
    assert err.startswith("rnnkit: error: ") and err.count("\n") == 1, err
    return err


def test_bad_input_is_one_line_and_writes_nothing(runs, tmp_path, capsys):
    out = tmp_path / "run"
    train = ["train", "speech", "--out", out, *SMALL]
    not_wav = tmp_path / "notes.wav"
    not_wav.write_text("these are not samples")
    assert "notes.wav is not a WAV file" in _fails(capsys, "transcribe", runs / "streaming",
                                                    not_wav)  # fmt: skip
    empty = tmp_path / "empty.wav"
    wavfile.write(empty, 16_000, np.zeros(0, np.int16))
    assert "holds no audio samples" in _fails(capsys, "transcribe", runs / "streaming", empty)
    alaw = tmp_path / "alaw.wav"  # format tag 6 (A-law): a WAV format rnnkit does not read
    body = b"fmt " + (16).to_bytes(4, "little") + bytes([6, 0, 1, 0]) + (8000).to_bytes(
        4, "little") + (8000).to_bytes(4, "little") + bytes([1, 0, 8, 0])  # fmt: skip
    body += b"data" + (4).to_bytes(4, "little") + bytes(4)
    alaw.write_bytes(b"RIFF" + (4 + len(body)).to_bytes(4, "little") + b"WAVE" + body)
    assert "alaw.wav is not a WAV file" in _fails(capsys, "transcribe", runs / "streaming", alaw)
    assert "bidirectional" in _fails(capsys, "transcribe", runs / "bidirectional",
                                     runs / "wavs" / "u0.wav", "--stream")  # fmt: skip
    # a transcript with characters the model cannot write
    other = _speak(tmp_path / "other", count=3, words=("six", "seven"))
    assert "outside the model's alphabet" in _fails(capsys, "evaluate", runs / "streaming",
                                                    "--data", other)  # fmt: skip
    # features without transcripts
    no_text = tmp_path / "features.npz"
    np.savez(no_text, X=np.zeros((4, 9, 40), np.float32), lengths=np.full(4, 9))
    assert "has no text" in _fails(capsys, *train, "--data", no_text)
    # a bad file in the data: training stops before anything is written
    broken = _speak(tmp_path / "broken", count=6)
    (broken / "u4.wav").write_bytes(b"RIFF....not really")
    assert "u4.wav is not a WAV file" in _fails(capsys, *train, "--data", broken)
    assert not out.exists()


def test_a_run_of_features_transcribes_an_npz(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 30, 5)).astype(np.float32)
    texts = np.array(["ab", "ba", "a b"] * 4)
    np.savez(tmp_path / "f.npz", X=x, lengths=np.full(12, 30), text=texts)
    argv = ["train", "speech", "--data", tmp_path / "f.npz", "--out", tmp_path / "run", *SMALL]
    assert main([str(a) for a in argv]) == 0
    capsys.readouterr()
    np.savez(tmp_path / "new.npz", X=x[:2], lengths=np.array([30, 12]))
    status, out, err = _run(capsys, "transcribe", tmp_path / "run", tmp_path / "new.npz")
    assert status == 0, err
    assert [line.split(": ")[0] for line in out.strip().splitlines()] == [
        f"{tmp_path / 'new.npz'}[0]", f"{tmp_path / 'new.npz'}[1]"]  # fmt: skip
    assert "precomputed features" in _fails(capsys, "transcribe", tmp_path / "run",
                                            tmp_path / "new.npz", "--stream")  # fmt: skip
