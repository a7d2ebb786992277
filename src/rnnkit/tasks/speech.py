"""``rnnkit train speech``: a CTC recogniser (``rnnkit.models.SpeechRecognizer``) trained on
spoken-digits, a directory of WAV files or an .npz of features; its runs evaluated (CER,
WER, whole strings right) and used to transcribe (``SpeechPredictor``)."""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.nn.functional import ctc_loss

from rnnkit.arguments import add_model_options, positive
from rnnkit.cells import CELLS
from rnnkit.data import bucket_batches, pad
from rnnkit.data.audio import SAMPLE_RATE, read_wav
from rnnkit.data.log_mel import LogMel, LogMelSettings
from rnnkit.data.speech import NAMED_SPEECH, load_speech, read_features_npz
from rnnkit.data.spoken_digits import Utterances
from rnnkit.models.ctc_decoding import CharacterNgram, WordList, decode
from rnnkit.models.speech_recognizer import SpecAugment, SpeechRecognizer
from rnnkit.tasks.export import Graph, batch_and_time
from rnnkit.tasks.interface import Predictor, Task
from rnnkit.tasks.metrics import edit_distance
from rnnkit.tasks.run import (
    begin_training,
    check_run,
    load_run,
    load_weights,
    prepare_run,
    save_run,
)
from rnnkit.tasks.speech_stream import TranscriptStream
from rnnkit.train import BestEpoch, TrainConfig, Trainer


@dataclass
class SpeechConfig:
    data: str = "spoken-digits"
    cell: str = "lstm"
    hidden: int = 128
    layers: int = 2
    streaming: bool = False  # unidirectional layers and running normalisation
    subsample: int = 2  # frames per recurrent step (10 ms each)
    dropout: float = 0.2
    batch_size: int = 32
    lr: float = 2e-3
    epochs: int | None = 40  # None: until the time budget
    time_budget: float | None = 540.0
    patience: int | None = 6
    seed: int = 0
    spec_augment: bool = True
    n_mels: int = 40
    beam: int = 8  # 1: greedy
    lm_order: int = 4  # character n-gram of the training transcripts; 0: none
    lm_weight: float = 0.3
    word_list: bool = False  # decode only the words of the training transcripts
    warmup: int = 40  # streaming: frames of warm-up (SpeechRecognizer's docstring says why)


def train_speech(config: SpeechConfig, out: Path, resume: bool, overwrite: bool,
                 quiet: bool) -> str:  # fmt: skip
    check_run(out, "speech", resume, overwrite)
    audio = config.data in NAMED_SPEECH or Path(config.data).is_dir()
    settings = LogMelSettings(n_mels=config.n_mels)
    train, valid, test = load_speech(config.data, config.seed, settings, quiet)
    alphabet = "".join(sorted(set("".join(train.texts))))
    for name, split in (("validation", valid), ("test", test)):
        check_alphabet(split.texts, alphabet, f"{config.data} ({name} split)")
    prepare_run(out, "speech", resume, overwrite)
    begin_training(out, "speech", asdict(config), {"alphabet": alphabet}, resume)
    torch.manual_seed(config.seed)
    model = build_model(asdict(config), train.features[0].shape[1], alphabet)
    frames = np.concatenate(train.features)
    model.mean.copy_(torch.from_numpy(frames.mean(0)))
    model.std.copy_(torch.from_numpy(frames.std(0) + 1e-5))
    inputs = [torch.from_numpy(f) for f in train.features]
    targets = [encode(text, alphabet) for text in train.texts]

    def batches(epoch: int):
        for batch in bucket_batches([len(x) for x in inputs], config.batch_size, config.seed,
                                    epoch):  # fmt: skip
            x, lengths = pad([inputs[k] for k in batch])
            yield x, lengths, [targets[k] for k in batch]

    def loss(model, batch) -> Tensor:
        x, lengths, labels = batch
        log_probs, steps = model(x, lengths)  # (B, T', K+1)
        return ctc_loss(log_probs.transpose(0, 1), torch.cat(labels), steps,
                        torch.tensor([len(y) for y in labels]), zero_infinity=True)  # fmt: skip

    def character_error(model) -> float:
        """Greedy CER on the validation split, for early stopping."""
        hypotheses = transcribe_features(model, valid.features, alphabet)
        return error_rates(hypotheses, valid.texts)["cer"]

    train_config = TrainConfig(
        epochs=config.epochs, time_budget=config.time_budget, lr=config.lr,
        patience=config.patience, seed=config.seed, quiet=quiet, schedule="cosine",
        warmup_steps=100, checkpoint_every=500,
    )  # fmt: skip
    best = BestEpoch(character_error)
    started = time.monotonic()
    result = Trainer(model, loss, batches, train_config, out, best).fit(resume=resume)
    extra = {
        "alphabet": alphabet, "n_features": int(train.features[0].shape[1]),
        "features": settings.to_dict() if audio else None, "steps": result.steps,
        "best_validation_cer": best.restore(model),
        "training_seconds": round(time.monotonic() - started, 1),
        "language_model": CharacterNgram.fit(train.texts, config.lm_order).to_dict()
        if config.lm_order > 0 else None,
        "words": WordList(w for t in train.texts for w in t.split()).to_dict(),
    }  # fmt: skip
    save_run(out, "speech", asdict(config), model, None, extra)
    return (f"{result.steps} steps, {result.epochs} epochs ({result.stopped}); saved to {out}\n"
            f"{evaluate_speech(out)}")  # fmt: skip


def build_model(config: dict, n_features: int, alphabet: str) -> SpeechRecognizer:
    streaming = config["streaming"]
    return SpeechRecognizer(
        n_features, len(alphabet), config["cell"], config["hidden"], config["layers"],
        bidirectional=not streaming, subsample=config["subsample"], dropout=config["dropout"],
        normalisation="running" if streaming else "utterance",
        spec_augment=SpecAugment() if config["spec_augment"] else SpecAugment(0, 0, 0, 0.0),
        warmup=config["warmup"] if streaming else 0,
    )  # fmt: skip


def encode(text: str, alphabet: str) -> Tensor:
    return torch.tensor([alphabet.index(c) + 1 for c in text], dtype=torch.int64)


def check_alphabet(texts: list[str], alphabet: str, where: str) -> None:
    """Every character of every transcript is one the model can write."""
    for k, text in enumerate(texts):
        outside = sorted(set(text) - set(alphabet))
        if outside:
            raise ValueError(f"{where}: transcript {k} ({text!r}) has characters outside the "
                             f"model's alphabet {alphabet!r}: {outside}")  # fmt: skip


def log_probabilities(model: SpeechRecognizer, features: list[np.ndarray],
                      batch_size: int = 64) -> list[Tensor]:  # fmt: skip
    """Each utterance's (T', K+1) log-probabilities, in batches of similar lengths."""
    model.eval()
    order = sorted(range(len(features)), key=lambda k: len(features[k]))
    found: list[Tensor] = [torch.empty(0)] * len(features)
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            x, lengths = pad([torch.from_numpy(features[k]) for k in batch])
            log_probs, steps = model(x, lengths)
            for row, k in enumerate(batch):
                found[k] = log_probs[row, : steps[row]]
    return found


def transcribe_features(model: SpeechRecognizer, features: list[np.ndarray], alphabet: str,
                        **decoding) -> list[str]:  # fmt: skip
    return [decode(lp, alphabet, **decoding) for lp in log_probabilities(model, features)]


def error_rates(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """Character and word error rates (edit distance / reference length, over all
    utterances) and the share of whole transcripts right."""
    chars = sum(edit_distance(h, r) for h, r in zip(hypotheses, references, strict=True))
    words = sum(edit_distance(h.split(), r.split())
                for h, r in zip(hypotheses, references, strict=True))  # fmt: skip
    return {
        "cer": chars / max(1, sum(len(r) for r in references)),
        "wer": words / max(1, sum(len(r.split()) for r in references)),
        "string_accuracy": float(np.mean([h == r for h, r in zip(hypotheses, references,
                                                                  strict=True)])),  # fmt: skip
    }


class SpeechPredictor(Predictor):
    """A trained speech run::

        model = rnnkit.load("runs/speech")
        model.transcribe("hello.wav")                 # text, of a WAV file or 16 kHz samples
        stream = model.stream()                       # a unidirectional (--streaming) run
        for chunk in chunks:                          # samples at 16 kHz, as they arrive
            partial = stream.push(chunk)
        stream.finish()                               # the final transcript
    """

    def __init__(self, run_dir: Path) -> None:
        run = load_run(run_dir, ("speech",))
        self.run, self.task, self.config = run_dir, "speech", run["config"]
        extra = run["extra"]
        self.alphabet: str = extra["alphabet"]
        model = build_model(self.config, extra["n_features"], self.alphabet)
        self.model: SpeechRecognizer = load_weights(run_dir, model)
        features = extra["features"]
        self.log_mel = LogMel(LogMelSettings(**features)) if features else None
        lm = extra["language_model"]
        self.language_model = CharacterNgram.from_dict(lm) if lm else None
        self.words = WordList.from_dict(extra["words"])

    def decoding(self, beam: int | None = None) -> dict:
        """The decoder's options: the run's beam, language model and word list; beam 1 is
        greedy, without either."""
        beam = self.config["beam"] if beam is None else beam
        if beam == 1:
            return {"beam": 1}
        return {"beam": beam,
                "language_model": self.language_model, "lm_weight": self.config["lm_weight"],
                "word_list": self.words if self.config["word_list"] else None}  # fmt: skip

    def features(self, audio) -> np.ndarray:
        """A WAV path or samples (N,) at 16 kHz -> log-mel features (T, C)."""
        if self.log_mel is None:
            raise ValueError(f"{self.run} was trained on precomputed features: give it "
                             "features (an .npz), not audio")  # fmt: skip
        samples = read_wav(audio) if isinstance(audio, (str, Path)) else _samples(audio)
        frames = self.log_mel(samples).numpy()
        if len(frames) < 3:
            raise ValueError(f"the audio is {len(samples) / SAMPLE_RATE:.3f} s long: too short to "
                             "transcribe (at least 45 ms)")  # fmt: skip
        return frames

    def transcribe(self, audio, beam: int | None = None) -> str | list[str]:
        """A WAV path or 16 kHz samples -> its transcript; a list of them -> a list."""
        single = isinstance(audio, (str, Path)) or np.ndim(audio) == 1
        items = [audio] if single else list(audio)
        texts = transcribe_features(self.model, [self.features(a) for a in items],
                                    self.alphabet, **self.decoding(beam))  # fmt: skip
        return texts[0] if single else texts

    def transcribe_file(self, path: Path, beam: int | None = None) -> list[str]:
        """Every utterance of an .npz of features (X, lengths, text optional), or a WAV."""
        if Path(path).suffix.lower() != ".npz":
            return [self.transcribe(path, beam)]
        utterances = read_features_npz(Path(path), labelled=False)
        return transcribe_features(self.model, utterances.features, self.alphabet,
                                   **self.decoding(beam))  # fmt: skip

    def stream(self, beam: int | None = None) -> TranscriptStream:
        """Transcription of live audio, chunk by chunk (unidirectional runs only)."""
        if self.log_mel is None:
            raise ValueError(f"{self.run} was trained on precomputed features, not audio")
        if self.model.bidirectional:
            raise ValueError(f"{self.run} is bidirectional: it needs the whole utterance. "
                             "Streaming takes a run trained with --streaming")  # fmt: skip
        return TranscriptStream(self.model, self.log_mel, self.alphabet, self.decoding(beam))

    def graphs(self) -> list[Graph]:
        """For ``rnnkit export``: (features (B, T, C) raw log-mel, lengths (B,)) ->
        (log-probabilities (B, T', K+1), steps (B,))."""
        batch, steps = batch_and_time()
        channels = self.model.mean.shape[0]
        inputs = {"features": torch.randn(3, 40, channels), "lengths": torch.tensor([40, 17, 29])}
        dynamic = {"features": {0: batch, 1: steps}, "lengths": {0: batch}}
        return [Graph(None, self.model, inputs, ["log_probs", "steps"], dynamic)]


def _samples(audio) -> np.ndarray:
    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim != 1 or samples.size == 0 or not np.isfinite(samples).all():
        raise ValueError("audio must be a non-empty 1-D array of finite samples at 16 kHz")
    return samples


def evaluate_speech(run_dir: Path, data: str | None = None) -> str:
    scores, count, where = score_speech(run_dir, data)
    return (f"{where}: {count} utterances, CER {scores['cer']:.2%}, WER {scores['wer']:.2%}, "
            f"whole strings right {scores['string_accuracy']:.1%}")  # fmt: skip


def score_speech(run_dir: Path, data: str | None = None, beam: int | None = None):
    """-> (scores {cer, wer, string_accuracy}, utterances, what was scored)."""
    predictor = SpeechPredictor(run_dir)
    config = predictor.config
    settings = predictor.log_mel.settings if predictor.log_mel else None
    if data is None:
        utterances = load_speech(config["data"], config["seed"], settings, quiet=True)[2]
        where = f"{config['data']} test split"
    else:
        parts = load_speech(data, config["seed"], settings, quiet=True)
        utterances = Utterances(*(sum((getattr(p, f) for p in parts), [])
                                  for f in ("features", "texts", "voices")))  # fmt: skip
        where = data
    check_alphabet(utterances.texts, predictor.alphabet, where)
    channels = predictor.model.mean.shape[0]
    if utterances.features[0].shape[1] != channels:
        raise ValueError(f"{where} has {utterances.features[0].shape[1]} features per frame; "
                         f"the model reads {channels}")  # fmt: skip
    hypotheses = transcribe_features(predictor.model, utterances.features, predictor.alphabet,
                                     **predictor.decoding(beam))  # fmt: skip
    return error_rates(hypotheses, utterances.texts), len(utterances), where


class SpeechTask(Task):
    name = "speech"
    help = "speech recognition with CTC; named data: spoken-digits"
    description = (
        "Trains a recogniser of characters (CTC) on log-mel features: bidirectional, or "
        "unidirectional with --streaming; saves it in --out."
    )
    commands = ("evaluate", "transcribe")
    predictor = SpeechPredictor

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        d = SpeechConfig()
        add_model_options(parser, d.data, d.hidden, d.layers, d.dropout, d.epochs, d.batch_size)
        add = parser.add_argument
        add("--streaming", action="store_true",
            help="unidirectional layers and running normalisation, for rnnkit transcribe "
            "--stream")  # fmt: skip
        add("--subsample", type=positive, default=d.subsample,
            help=f"10 ms frames per recurrent step (default {d.subsample})")  # fmt: skip
        add("--n-mels", type=positive, default=d.n_mels, help="mel bands of the features")
        add("--no-spec-augment", action="store_true", help="no time and frequency masks")
        add("--patience", type=positive, default=d.patience, help="early stopping, in epochs")
        add("--beam", type=positive, default=d.beam, help="1: greedy decoding")
        add("--lm-order", type=int, default=d.lm_order,
            help="character n-gram of the training transcripts for the beam (0: none)")
        add("--lm-weight", type=float, default=d.lm_weight)
        add("--word-list", action="store_true",
            help="decode only words that the training transcripts hold")  # fmt: skip

    def train(self, args: argparse.Namespace) -> str:
        if args.cell not in CELLS:
            raise ValueError(f"--cell must be one of {sorted(CELLS)}, got {args.cell!r}")
        if args.lm_order < 0:
            raise ValueError(f"--lm-order must be 0 (none) or positive, got {args.lm_order}")
        # Without --time-budget: SpeechConfig's, which (unlike --time-budget) does not lift
        # the epoch count (rnnkit.arguments.resolve_epochs).
        budget = SpeechConfig.time_budget if args.time_budget is None else args.time_budget
        config = SpeechConfig(
            args.data, args.cell, args.hidden, args.layers, args.streaming, args.subsample,
            args.dropout, args.batch_size, args.lr, args.epochs,
            budget, args.patience, args.seed, not args.no_spec_augment, args.n_mels, args.beam,
            args.lm_order, args.lm_weight, args.word_list,
        )  # fmt: skip
        return train_speech(config, args.out, args.resume, args.overwrite, args.quiet)

    def evaluate(self, run: Path, data: str | None) -> str:
        return evaluate_speech(run, data)


SPEECH = SpeechTask()
