"""``rnnkit transcribe RUN FILE...``: a speech run's transcripts of WAV files (or of an
.npz of features), and with ``--stream`` of one WAV file read in chunks as if live, each
partial transcript printed as its chunk is done, then the compute time per chunk."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from rnnkit.arguments import positive
from rnnkit.data.audio import SAMPLE_RATE, read_wav


def add_transcribe_command(commands) -> None:
    command = commands.add_parser(
        "transcribe", help="turn speech into text with a speech run",
        description="Prints one transcript per WAV file (every utterance of an .npz of "
        "features). --stream reads one WAV file in chunks, as a live stream, with a "
        "unidirectional run (rnnkit train speech --streaming).",
    )  # fmt: skip
    command.add_argument("run", type=Path, help="the run directory of rnnkit train speech")
    command.add_argument("files", type=Path, nargs="+", help="WAV files, or an .npz")
    command.add_argument("--stream", action="store_true", help="transcribe chunk by chunk")
    command.add_argument("--chunk-ms", type=positive, default=100,
                         help="--stream: milliseconds of audio per chunk (default 100)")
    command.add_argument("--beam", type=positive, default=None,
                         help="beam width (default: the run's; 1 is greedy)")  # fmt: skip


def transcribe(args: argparse.Namespace, predictor) -> str:
    if not args.stream:
        lines = []
        for path in args.files:
            texts = predictor.transcribe_file(path, args.beam)
            many = len(texts) > 1
            lines += [f"{path}{f'[{k}]' if many else ''}: {t}" for k, t in enumerate(texts)]
        return "\n".join(lines)
    if len(args.files) != 1:
        raise ValueError(f"--stream reads one WAV file, got {len(args.files)}")
    stream = predictor.stream(args.beam)  # checks that the run can stream
    samples = read_wav(args.files[0])
    size = SAMPLE_RATE * args.chunk_ms // 1000
    shown = ""
    for start in range(0, len(samples), size):
        partial = stream.push(samples[start : start + size])
        if partial != shown:
            end = min(len(samples), start + size) / SAMPLE_RATE
            print(f"{end:6.2f} s  {partial}", flush=True, file=sys.stdout)
            shown = partial
    milliseconds = 1000 * np.array(stream.seconds)
    return (f"{args.files[0]}: {stream.finish()}\ncompute per {args.chunk_ms} ms chunk: median "
            f"{np.median(milliseconds):.2f} ms, max {milliseconds.max():.2f} ms over "
            f"{len(milliseconds)} chunks")  # fmt: skip
