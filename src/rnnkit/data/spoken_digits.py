"""``spoken-digits``: connected digit strings ("four two seven"), 2 to 7 digits spoken as
words, synthesised offline with espeak-ng (``rnnkit.data.speech_synthesis``) in many
voices, at varied speeds and pitches, with a random gain and added white noise.

The splits are by voice variant: validation and test utterances are spoken by variants
that training never hears (each with any of the English accents), so the test error is the
error on unseen voices. The log-mel features of a set are made once and cached in
``$RNNKIT_CACHE_DIR/spoken-digits`` (default ``~/.cache/rnnkit``), about 60 MB.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from rnnkit.data.audio import SAMPLE_RATE, to_model_rate
from rnnkit.data.log_mel import LogMel, LogMelSettings
from rnnkit.data.speech_synthesis import Voice, synthesiser, variants
from rnnkit.train.files import write_atomic

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ACCENTS = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc",
           "en-gb-x-gbclan", "en-gb-x-gbcwmd")  # fmt: skip
#: Voice variants held out of training: heard only in the validation or the test split.
VALID_VARIANTS = ("Andy", "belinda", "david", "f4", "klatt5", "m6", "robert", "shelby")
TEST_VARIANTS = (
    "Annie", "Gene2", "boris", "croak", "f2", "grandma", "iven2", "john", "klatt3", "linda",
    "m4", "max", "norbert", "robosoft3", "steph2", "travis",
)  # fmt: skip
VERSION = 2  # bump when the recipe below changes, so that caches are made anew


@dataclass(frozen=True)
class Utterances:
    """Features (T_i, C) float32 each, their transcripts, and who spoke them."""

    features: list[np.ndarray]
    texts: list[str]
    voices: list[str]

    def __len__(self) -> int:
        return len(self.texts)


def spoken_digits(
    sizes: tuple[int, int, int] = (6000, 400, 1000),
    seed: int = 0,
    settings: LogMelSettings | None = None,
    quiet: bool = False,
) -> tuple[Utterances, Utterances, Utterances]:
    """(train, valid, test) with ``sizes`` utterances, made from the cache when there."""
    settings = settings or LogMelSettings()
    recipe = {"version": VERSION, "sizes": list(sizes), "seed": seed,
              "features": settings.to_dict()}  # fmt: skip
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    cache = _cache_dir() / f"{key}.npz"
    if cache.is_file():
        return _read(cache)
    held_out = set(VALID_VARIANTS) | set(TEST_VARIANTS)
    train_variants = [v for v in variants() if v not in held_out]
    rng = np.random.default_rng(seed)
    log_mel = LogMel(settings)
    splits = []
    with tqdm(total=sum(sizes), desc="synthesising spoken-digits", disable=quiet,
              unit="utt") as progress:  # fmt: skip
        for size, pool in zip(sizes, (train_variants, VALID_VARIANTS, TEST_VARIANTS),
                              strict=True):  # fmt: skip
            splits.append(_utterances(size, pool, rng, log_mel, progress))
    _write(cache, splits)
    return _read(cache)  # as stored (float16), so that a first run and a cached one agree


def _utterances(
    count: int, pool, rng: np.random.Generator, log_mel: LogMel, progress
) -> Utterances:
    speaker = synthesiser()
    features, texts, voices = [], [], []
    for _ in range(count):
        text = " ".join(DIGITS[d] for d in rng.integers(0, 10, size=rng.integers(2, 8)))
        voice = Voice(
            f"{ACCENTS[rng.integers(len(ACCENTS))]}+{pool[rng.integers(len(pool))]}",
            rate=int(rng.integers(130, 231)), pitch=int(rng.integers(20, 81)),
            pitch_range=int(rng.integers(20, 81)),
        )  # fmt: skip
        audio = to_model_rate(speaker.speak(text, voice), speaker.sample_rate)
        features.append(log_mel(noisy(audio, rng)).numpy())
        texts.append(text)
        voices.append(voice.name)
        progress.update()
    return Utterances(features, texts, voices)


def noisy(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random gain (-20 to 0 dB) and white noise at a signal-to-noise ratio of 10 to
    40 dB, with 0.1 to 0.4 s of it before and after the speech."""
    pad = [np.zeros(int(rng.uniform(0.1, 0.4) * SAMPLE_RATE), np.float32) for _ in range(2)]
    audio = np.concatenate((pad[0], audio, pad[1]))
    power = float(np.mean(np.square(audio))) + 1e-12
    snr = rng.uniform(10.0, 40.0)
    noise = rng.standard_normal(audio.shape) * np.sqrt(power / 10 ** (snr / 10))
    gain = 10 ** (rng.uniform(-20.0, 0.0) / 20)
    return ((audio + noise) * gain).astype(np.float32)


def _cache_dir() -> Path:
    root = Path(os.environ.get("RNNKIT_CACHE_DIR", Path.home() / ".cache" / "rnnkit"))
    return root / "spoken-digits"


def _write(path: Path, splits: list[Utterances]) -> None:
    arrays = {}
    for name, split in zip(("train", "valid", "test"), splits, strict=True):
        arrays[f"{name}_features"] = np.concatenate(split.features).astype(np.float16)
        arrays[f"{name}_lengths"] = np.array([len(f) for f in split.features])
        arrays[f"{name}_texts"] = np.array(split.texts)
        arrays[f"{name}_voices"] = np.array(split.voices)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic(path, lambda f: f.write(buffer.getvalue()))


def _read(path: Path) -> tuple[Utterances, Utterances, Utterances]:
    splits = []
    with np.load(path, allow_pickle=False) as saved:
        for name in ("train", "valid", "test"):
            ends = np.cumsum(saved[f"{name}_lengths"])
            stacked = saved[f"{name}_features"].astype(np.float32)
            features = np.split(stacked, ends[:-1])
            splits.append(Utterances(features, [str(t) for t in saved[f"{name}_texts"]],
                                     [str(v) for v in saved[f"{name}_voices"]]))  # fmt: skip
    return splits[0], splits[1], splits[2]
