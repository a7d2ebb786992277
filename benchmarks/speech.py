"""The speech rows of benchmarks/quality.py (issue 20): ``rnnkit train speech`` on
spoken-digits with its defaults, bidirectional and streaming (``--streaming``), and the
bidirectional model again with torch.nn.LSTM as its recurrent stack (the anchor: the same
model, data, batches and budget), each scored on the test voices, which training never
heard.

Scores: digit error (word error rate: every word is a digit), character error rate and
whole strings right, greedy and with the run's decoding (prefix beam search, beam 8, with a
character 4-gram of the training transcripts). Speed: the real-time factor (compute time /
audio time, features included, one utterance at a time) of both models, and the streaming
model's compute per 100 ms chunk of live audio (``TranscriptStream.push``).

    python benchmarks/speech.py                # about 30 minutes; writes results/speech.md
    python benchmarks/speech.py --scale 0.05   # a smoke run
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from unittest import mock

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import publish, table  # noqa: E402

from rnnkit.data.audio import SAMPLE_RATE, to_model_rate  # noqa: E402
from rnnkit.data.speech_synthesis import Voice, synthesiser  # noqa: E402
from rnnkit.data.spoken_digits import ACCENTS, DIGITS, TEST_VARIANTS, noisy  # noqa: E402
from rnnkit.tasks.speech import (  # noqa: E402
    SpeechConfig,
    SpeechPredictor,
    score_speech,
    train_speech,
)

RESULTS = Path(__file__).resolve().parent / "results"
CHUNK = SAMPLE_RATE // 10  # 100 ms
TIMED_UTTERANCES = 40


def test_audio(count: int, seed: int = 1) -> list[np.ndarray]:
    """Digit strings spoken by the test voices, noisy as in spoken-digits, as 16 kHz audio
    (the cached set holds features only)."""
    rng = np.random.default_rng(seed)
    speaker = synthesiser()
    found = []
    for _ in range(count):
        text = " ".join(DIGITS[d] for d in rng.integers(0, 10, size=rng.integers(2, 8)))
        name = f"{ACCENTS[rng.integers(len(ACCENTS))]}+{TEST_VARIANTS[rng.integers(16)]}"
        samples = speaker.speak(text, Voice(name, rate=int(rng.integers(130, 231))))
        found.append(noisy(to_model_rate(samples, speaker.sample_rate), rng))
    return found


def speed(predictor: SpeechPredictor, audio: list[np.ndarray]) -> dict:
    """Real-time factor of whole-utterance transcription; per-chunk compute of streaming."""
    torch.set_num_threads(1)  # one utterance at a time: one thread, as a server would
    started = time.perf_counter()
    for samples in audio:
        predictor.transcribe(samples)
    seconds = sum(len(a) for a in audio) / SAMPLE_RATE
    result = {"rtf": (time.perf_counter() - started) / seconds}
    if not predictor.model.bidirectional:
        chunks = []
        for samples in audio:
            stream = predictor.stream()
            for start in range(0, len(samples), CHUNK):
                stream.push(samples[start : start + CHUNK])
            chunks += stream.seconds
        result["chunk_ms"] = 1000 * np.array(chunks)
    return result


def run(config: SpeechConfig, anchor: bool, audio: list[np.ndarray]) -> dict:
    from quality import TorchStack

    patch = mock.patch("rnnkit.models.speech_recognizer.recurrent_stack", TorchStack)
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as out, patch if anchor else nullcontext():
        run_dir = Path(out) / "run"
        started = time.perf_counter()
        train_speech(config, run_dir, False, False, quiet=True)  # training and its test
        wall = time.perf_counter() - started
        extra = json.loads((run_dir / "task.json").read_text())["extra"]
        scores = {beam: score_speech(run_dir, beam=beam)[0] for beam in (1, config.beam)}
        timing = {} if anchor else speed(SpeechPredictor(run_dir), audio)
    torch.set_num_threads(threads)
    return {"scores": scores, "seconds": wall, "steps": extra["steps"], **timing}


def speech_table(scale: float = 1.0) -> list[str]:
    audio = test_audio(TIMED_UTTERANCES)
    base = SpeechConfig()
    base = replace(base, time_budget=base.time_budget * scale)
    results = {
        "bidirectional": run(base, False, audio),
        "streaming": run(replace(base, streaming=True), False, audio),
        "bidirectional, torch.nn.LSTM": run(base, True, audio),
    }
    rows = []
    for name, r in results.items():
        for beam, label in ((1, "greedy"), (base.beam, f"beam {base.beam} + 4-gram")):
            s = r["scores"][beam]
            rows.append([name, label, f"{s['wer']:.2%}", f"{s['cer']:.2%}",
                         f"{s['string_accuracy']:.1%}", f"{r['seconds'] / 60:.1f}",
                         str(r["steps"]), f"{r['rtf']:.4f}" if "rtf" in r else "-"])  # fmt: skip
    chunk = results["streaming"]["chunk_ms"]
    bi = results["bidirectional"]["scores"][base.beam]["wer"]
    st = results["streaming"]["scores"][base.beam]["wer"]
    return [
        "## Speech recognition (spoken-digits)",
        "",
        f"- command: `python benchmarks/speech.py --scale {scale}` = `rnnkit train speech` "
        f"defaults ({base.layers} x {base.cell.upper()} {base.hidden}, subsampling "
        f"{base.subsample}, SpecAugment, CTC, a cosine learning rate over the "
        f"{base.time_budget / 60:.1f}-minute budget, the best epoch on validation CER), "
        "and `--streaming` (unidirectional, running normalisation)",
        "- test: 1000 utterances of 2-7 digits by 16 voice variants training never heard; "
        "targets: digit error <= 5 %, whole strings >= 85 % within 10 minutes; streaming "
        "digit error <= 2x bidirectional, <= 10 ms compute per 100 ms chunk",
        f"- streaming / bidirectional digit error (beam): {st / max(bi, 1e-9):.2f}x; "
        f"compute per 100 ms chunk over {len(chunk)} chunks of {TIMED_UTTERANCES} test "
        f"utterances, one thread: median {np.median(chunk):.2f} ms, 95th percentile "
        f"{np.percentile(chunk, 95):.2f} ms, max {chunk.max():.2f} ms",
        "- wall min: `train_speech` from the cached features to the saved, scored run "
        "(synthesising spoken-digits the first time adds about 30 s)",
        "- real-time factor: compute / audio time, whole utterances one at a time (features, "
        "network and decoding), one thread",
        "",
        *table(["model", "decoding", "digit error", "CER", "strings right", "wall min",
                "steps", "real-time factor"], rows, text_columns=2),  # fmt: skip
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="budget multiplier (default 1)")
    parser.add_argument("--out", type=Path, default=RESULTS / "speech.md")
    args = parser.parse_args()
    lines = [
        "# rnnkit on speech recognition",
        "",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads",
        "",
        *speech_table(args.scale),
    ]
    publish(args.out, lines)


if __name__ == "__main__":
    main()
