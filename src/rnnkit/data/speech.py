"""The speech task's data: the named set ``spoken-digits``, a directory of WAV files with
their transcripts, or an .npz of precomputed features.

    DIR/transcripts.csv     path,text   (paths relative to DIR; one utterance per row)
    FILE.npz                X (N, T, C) float, lengths (N,) int, text (N,) str

A user's data is split 80/10/10 at random with the seed. Transcripts are lower-cased with
runs of white space made one space.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rnnkit.data.audio import read_wav
from rnnkit.data.log_mel import LogMel, LogMelSettings
from rnnkit.data.spoken_digits import Utterances, spoken_digits

NAMED_SPEECH = ("spoken-digits",)
TRANSCRIPTS = "transcripts.csv"


def normalise_text(text: str) -> str:
    return " ".join(text.lower().split())


def load_speech(
    source: str, seed: int = 0, settings: LogMelSettings | None = None, quiet: bool = False
) -> tuple[Utterances, Utterances, Utterances]:
    """(train, valid, test) utterances of a named set, a directory or an .npz."""
    if source in NAMED_SPEECH:
        return spoken_digits(seed=seed, settings=settings, quiet=quiet)
    path = Path(source)
    if path.is_dir():
        utterances = read_wav_directory(path, settings, quiet)
    elif path.suffix.lower() == ".npz":
        utterances = read_features_npz(path)
    else:
        raise ValueError(
            f"--data must be {' or '.join(NAMED_SPEECH)}, a directory with {TRANSCRIPTS} or an "
            f".npz of features, got {source!r}"
        )
    if len(utterances) < 3:
        raise ValueError(f"{source} holds {len(utterances)} utterances: at least 3 are needed "
                         "(to train, validate and test)")  # fmt: skip
    return split_utterances(utterances, seed)


def split_utterances(utterances: Utterances, seed: int) -> tuple[Utterances, ...]:
    """80/10/10 at random, each part at least one utterance."""
    order = np.random.default_rng(seed).permutation(len(utterances))
    n_test = n_valid = max(1, len(order) // 10)
    parts = (order[n_valid + n_test :], order[:n_valid], order[n_valid : n_valid + n_test])
    return tuple(
        Utterances([utterances.features[k] for k in part], [utterances.texts[k] for k in part],
                   [utterances.voices[k] for k in part])  # fmt: skip
        for part in parts
    )


def read_wav_directory(
    folder: Path, settings: LogMelSettings | None = None, quiet: bool = False
) -> Utterances:
    """Every row of ``folder/transcripts.csv`` -> its WAV file's log-mel features."""
    table = folder / TRANSCRIPTS
    if not table.is_file():
        raise FileNotFoundError(f"{folder} has no {TRANSCRIPTS} (columns: path,text)")
    with open(table, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    if not rows or not {"path", "text"} <= set(rows[0]):
        raise ValueError(f"{table} must have the columns path and text, one row per WAV file")
    log_mel = LogMel(settings)
    features, texts = [], []
    for line, row in enumerate(tqdm(rows, desc="reading audio", disable=quiet), start=2):
        text = normalise_text(row["text"] or "")
        if not text:
            raise ValueError(f"{table} line {line}: the transcript is empty")
        audio = read_wav(folder / (row["path"] or ""))
        frames = log_mel(audio).numpy()
        if len(frames) == 0:
            raise ValueError(f"{folder / row['path']} is shorter than one 25 ms frame")
        features.append(frames)
        texts.append(text)
    return Utterances(features, texts, [row["path"] for row in rows])


def read_features_npz(path: Path, labelled: bool = True) -> Utterances:
    """X (N, T, C), lengths (N,), text (N,) -> the utterances' features X[i, :lengths[i]];
    ``labelled=False``: text is optional (empty transcripts when absent)."""
    if not path.is_file():
        raise FileNotFoundError(f"features file {path} does not exist")
    if not zipfile.is_zipfile(path):  # else np.load would take it for a pickle, or a .npy
        raise ValueError(f"{path} is not an .npz file (np.savez writes one)")
    try:
        with np.load(path, allow_pickle=False) as saved:
            arrays = {key: saved[key] for key in saved.files}
    except ValueError as error:  # object arrays (pickles) are refused
        raise ValueError(f"{path}: cannot read it without unpickling ({error}); save text as "
                         "a string array (np.array(texts, dtype=str))") from None  # fmt: skip
    except (OSError, EOFError) as error:
        raise ValueError(f"{path} is not an .npz file numpy can read: {error}") from None
    if not labelled:
        arrays.setdefault("text", np.array([""] * len(arrays.get("X", [])), dtype=str))
    missing = [key for key in ("X", "lengths", "text") if key not in arrays]
    if missing:
        raise ValueError(f"{path} has no {', '.join(missing)}: an .npz of speech features "
                         "holds X (N, T, C), lengths (N,) and text (N,)")  # fmt: skip
    x, lengths, texts = arrays["X"], arrays["lengths"], arrays["text"]
    if x.ndim != 3 or x.dtype.kind != "f":
        raise ValueError(f"{path}: X must be a float array (N, T, C), got {x.dtype} {x.shape}")
    if lengths.shape != (len(x),) or texts.shape != (len(x),) or texts.dtype.kind != "U":
        raise ValueError(
            f"{path}: lengths and text must be (N={len(x)},) arrays of ints and strings, got "
            f"{lengths.shape} and {texts.dtype} {texts.shape}"
        )
    if ((lengths < 1) | (lengths > x.shape[1])).any():
        raise ValueError(f"{path}: every length must be between 1 and T={x.shape[1]}")
    if not np.isfinite(x).all():
        raise ValueError(f"{path}: X holds values that are not finite numbers")
    clean = [normalise_text(str(t)) for t in texts]
    if labelled and not all(clean):
        raise ValueError(f"{path}: text[{clean.index('')}] is empty")
    features = [x[k, : int(lengths[k])].astype(np.float32) for k in range(len(x))]
    return Utterances(features, clean, [str(k) for k in range(len(x))])
