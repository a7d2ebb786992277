"""The sequence-to-sequence tasks: ``g2p`` (CMUdict spellings to phonemes) and
``seq2seq`` (any source<TAB>target file), trained with teacher forcing and scheduled
sampling, scored by word and token error rates, greedy and with beam search.
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.nn.functional import cross_entropy

from rnnkit.data import Tokenizer, bucket_batches, pad
from rnnkit.data.pairs import Example, load_pairs
from rnnkit.models.seq2seq import BOS, EOS, PAD, Decoded, DecoderState, Memory, Seq2Seq
from rnnkit.tasks.export import Graph, batch_and_time
from rnnkit.tasks.interface import Predictor
from rnnkit.tasks.metrics import sequence_error_rates, sequence_errors
from rnnkit.tasks.run import (
    begin_training,
    check_run,
    load_run,
    load_weights,
    prepare_run,
    save_run,
)
from rnnkit.tasks.translation_baselines import WordDictionary, chrf
from rnnkit.train import BestEpoch, TrainConfig, Trainer, world

TASKS = ("g2p", "seq2seq")


@dataclass
class Seq2SeqConfig:
    task: str = "g2p"
    data: str = "cmudict"
    source_tokens: str = "char"  # how a TSV's sources and targets are cut: char or word
    target_tokens: str = "word"  # (g2p: letters in, space-separated phonemes out)
    cell: str = "lstm"
    hidden: int = 256
    layers: int = 1  # of the encoder
    bidirectional: bool = True  # encoder
    embedding_dim: int = 128
    dropout: float = 0.2
    attention: str = "additive"
    sampling: float = 0.0  # scheduled sampling, rising linearly to this by the last epoch
    batch_size: int = 64
    lr: float = 2e-3
    schedule: str = "constant"  # or "cosine": decays to 0 by the last epoch
    epochs: int | None = 30  # None: until the time budget
    time_budget: float | None = None
    patience: int | None = 5
    beam: int = 5
    length_penalty: float = 0.6
    seed: int = 0
    label_smoothing: float = 0.0  # of the training targets (Szegedy et al. 2016)


def fit_tokenizers(config: Seq2SeqConfig, train: list[Example]) -> tuple[Tokenizer, Tokenizer]:
    """Source vocabulary, and target vocabulary with BOS and EOS at indices 2 and 3."""
    lower = True if config.task == "g2p" else None  # spellings are looked up lower-cased
    source = Tokenizer.fit((s for s, _ in train), config.source_tokens, lower=lower)
    targets = (t for _, references in train for t in references)
    return source, Tokenizer.fit(targets, config.target_tokens, lower=False).with_boundaries()


def _encode(source: Tokenizer, target: Tokenizer, examples: list[Example], strict=False):
    """One training pair per reference: (source ids, BOS + target ids + EOS)."""
    pairs = []
    for text, references in examples:
        ids = torch.tensor(source.encode(text, strict), dtype=torch.int64)
        for reference in references:
            pairs.append((ids, torch.tensor([BOS, *target.encode(reference), EOS])))
    return pairs


def _batches(pairs, batch_size: int, seed: int, sampling: float, epochs: int | None):
    """Batches of (sources, source lengths, targets, scheduled-sampling probability): the
    probability rises linearly to ``sampling`` by the last epoch (without an epoch count,
    training until a time budget, by the second)."""
    lengths = [len(s) for s, _ in pairs]
    last = max(1, epochs - 1) if epochs is not None else 1

    def batches(epoch: int) -> list:
        probability = sampling * min(1.0, epoch / last)
        return [
            (*pad([pairs[k][0] for k in batch]), pad([pairs[k][1] for k in batch])[0],
             probability)
            for batch in bucket_batches(lengths, batch_size, seed, epoch)
        ]  # fmt: skip

    return batches


def build_model(config: dict, source_vocab: int, target_vocab: int) -> Seq2Seq:
    return Seq2Seq(
        source_vocab, target_vocab, config["embedding_dim"], config["cell"], config["hidden"],
        config["layers"], config["bidirectional"], config["dropout"], config["attention"],
    )  # fmt: skip


def decode(
    model: Seq2Seq, sources: list[torch.Tensor], beam: int = 1, length_penalty: float = 0.6,
    batch_size: int = 256,
) -> list[Decoded]:  # fmt: skip
    """Each source (S_i,) decoded on its own row of a batch -> one ``Decoded`` per source
    (batch of 1, in the order given). Greedy for beam 1."""
    order = sorted(range(len(sources)), key=lambda k: len(sources[k]))
    results: list[Decoded | None] = [None] * len(sources)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        source, lengths = pad([sources[k] for k in chunk])
        if beam == 1:
            decoded = model.greedy(source, lengths)
        else:
            decoded = model.beam_search(source, lengths, beam, length_penalty)
        for row, k in enumerate(chunk):
            length, steps = int(decoded.lengths[row]), int(lengths[row])
            results[k] = Decoded(
                decoded.tokens[row, :length], decoded.lengths[row],
                decoded.attention[row, :length, :steps], decoded.scores[row],
            )  # fmt: skip
    return results


def error_rates(model, source: Tokenizer, target: Tokenizer, examples, beam=1, penalty=0.6):
    """WER and PER of the model's outputs against each example's references; each rank of
    a data-parallel run decodes its share of the examples."""
    if not examples:
        raise ValueError("no examples to score")
    group = world.current()
    mine = examples[group.share(len(examples))]
    counts = sequence_errors(*_decoded(model, source, target, mine, beam, penalty))
    wrong, edits, length = group.sum(torch.tensor(counts, dtype=torch.float64)).tolist()
    return {"wer": wrong / len(examples), "per": edits / max(length, 1)}


def _decoded(model, source: Tokenizer, target: Tokenizer, examples, beam: int, penalty: float):
    """-> (the model's outputs, the references), as token ids."""
    sources = [torch.tensor(source.encode(s), dtype=torch.int64) for s, _ in examples]
    predictions = [d.tokens.tolist() for d in decode(model, sources, beam, penalty)]
    return predictions, [[target.encode(r) for r in refs] for _, refs in examples]


def train_seq2seq(config: Seq2SeqConfig, out: Path, resume: bool, overwrite: bool,
                  quiet: bool) -> str:  # fmt: skip
    if config.task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {config.task!r}")
    check_run(out, config.task, resume, overwrite)
    train_config = TrainConfig(
        epochs=config.epochs, time_budget=config.time_budget, lr=config.lr,
        schedule=config.schedule, patience=config.patience, seed=config.seed, quiet=quiet,
        checkpoint_every=500,
    )  # fmt: skip
    data = load_pairs(config.data, config.seed, config.source_tokens, config.target_tokens)
    prepare_run(out, config.task, resume, overwrite)
    torch.manual_seed(config.seed)
    config.source_tokens, config.target_tokens = data.source_kind, data.target_kind
    source, target = fit_tokenizers(config, data.train)
    settings = asdict(config)
    made = {"source tokens": source.tokens, "target tokens": target.tokens}
    begin_training(out, config.task, settings, made, resume)
    model = build_model(settings, len(source), len(target))

    def loss(model, batch):
        x, lengths, y, sampling = batch
        logits, _ = model(x, lengths, y[:, :-1], sampling)
        return cross_entropy(logits.flatten(0, 1), y[:, 1:].flatten(), ignore_index=PAD,
                             label_smoothing=config.label_smoothing)  # fmt: skip

    # Greedy error rate on the validation examples after each epoch; the best epoch's weights
    # are saved. Sentences are rarely matched whole, so seq2seq compares token error rates
    # (a WER near 100 % would pick an epoch, and stop early, by chance); g2p words' WER.
    criterion = "wer" if config.task == "g2p" else "per"
    best = BestEpoch(lambda model: error_rates(model, source, target, data.valid)[criterion])

    pairs = _encode(source, target, data.train)
    batches = _batches(pairs, config.batch_size, config.seed, config.sampling, config.epochs)
    def targets(batch) -> float:  # what the loss averages over: the tokens, not padding
        return float((batch[2][:, 1:] != PAD).sum())

    trainer = Trainer(model, loss, batches, train_config, out, best, weight_of=targets)
    result = trainer.fit(resume=resume)
    best_error = best.restore(model)
    extra = {
        "source_tokenizer": source.to_dict(), "target_tokenizer": target.to_dict(),
        "steps": result.steps, "epochs": result.epochs,
        f"best_validation_{criterion}": best_error,
    }  # fmt: skip
    save_run(out, config.task, settings, model, None, extra)
    return (
        f"{result.steps} steps, {result.epochs} epochs ({result.stopped}); saved to {out}\n"
        + evaluate_seq2seq(out)
    )


def load_seq2seq(run_dir: Path) -> tuple[dict, Seq2Seq, Tokenizer, Tokenizer]:
    run = load_run(run_dir, TASKS)
    source = Tokenizer.from_dict(run["extra"]["source_tokenizer"])
    target = Tokenizer.from_dict(run["extra"]["target_tokenizer"])
    model = load_weights(run_dir, build_model(run["config"], len(source), len(target)))
    return run, model, source, target


def score_seq2seq(run_dir: Path, data: str | None = None, beams=(1, 5)) -> dict:
    """-> {"where": what was scored, "examples": n, beam: {"wer", "per"[, "chrf"]},
    "baselines": {name: chrF}} on the run's test split, or every example of ``data``. chrF
    (of a seq2seq run, with sacrebleu installed) also for copying the source and for a
    word-by-word dictionary of the training pairs (``translation_baselines``)."""
    run, model, source, target = load_seq2seq(run_dir)
    config = run["config"]
    loaded = load_pairs(data or config["data"], config["seed"], config["source_tokens"],
                        config["target_tokens"])  # fmt: skip
    examples = loaded.test if data is None else loaded.train + loaded.valid + loaded.test
    scores = {"where": data or f"{config['data']} test split", "examples": len(examples)}
    with_chrf = config["task"] == "seq2seq" and importlib.util.find_spec("sacrebleu") is not None
    references = [refs for _, refs in examples]
    for beam in beams:
        predictions, ids = _decoded(model, source, target, examples, beam, config["length_penalty"])
        scores[beam] = sequence_error_rates(predictions, ids)
        if with_chrf:
            scores[beam]["chrf"] = chrf([target.decode(p) for p in predictions], references)
    if with_chrf:
        train = loaded.train if data is None else load_pairs(
            config["data"], config["seed"], config["source_tokens"], config["target_tokens"]
        ).train
        dictionary = WordDictionary([(s, t) for s, refs in train for t in refs])
        sources = [s for s, _ in examples]
        scores["baselines"] = {
            "copy the source": chrf(sources, references),
            "word-by-word dictionary of the training pairs": chrf(
                [dictionary.translate(s) for s in sources], references),
        }  # fmt: skip
    return scores


def evaluate_seq2seq(run_dir: Path, data: str | None = None) -> str:
    scores = score_seq2seq(run_dir, data)
    lines = [f"{scores['where']}: {scores['examples']} sources"]
    for beam in (1, 5):
        name = "greedy" if beam == 1 else f"beam {beam}"
        chrf_text = f", chrF {scores[beam]['chrf']:.1f}" if "chrf" in scores[beam] else ""
        lines.append(f"  {name:>7}: word error rate {scores[beam]['wer']:.2%}, "
                     f"token error rate {scores[beam]['per']:.2%}{chrf_text}")  # fmt: skip
    if "baselines" in scores:
        lines.append("baselines, chrF on the same sources: " + ", ".join(
            f"{name} {value:.1f}" for name, value in scores["baselines"].items()))
    return "\n".join(lines)


@dataclass(frozen=True)
class Translation:
    """One source's output: ``source`` and ``output`` as tokens, ``text`` the output
    joined, ``attention`` (L, S) the weight each output token gave each source token."""

    source: list[str]
    output: list[str]
    text: str
    attention: torch.Tensor


class TranslatorPredictor(Predictor):
    """A trained g2p or seq2seq run::

    model = rnnkit.load("runs/g2p")
    model.translate("recurrent").text           # e.g. 'R IH0 K ER1 AH0 N T'
    model.translate("recurrent", beam=1)        # greedy
    """

    def __init__(self, run_dir: Path) -> None:
        run, self.model, self.source, self.target = load_seq2seq(run_dir)
        self.run, self.task, self.config = run_dir, run["task"], run["config"]

    def translate(self, text: str, beam: int | None = None) -> Translation:
        """One source text -> its ``Translation`` (beam: the run's, by default; 1 is greedy).
        An output of no tokens is an error: there would be nothing to show."""
        pieces = self.source.split(text.strip())
        if not pieces:
            raise ValueError("the text is empty: there is nothing to translate")
        ids = torch.tensor(self.source.encode(text.strip(), strict=True), dtype=torch.int64)
        beam = self.config["beam"] if beam is None else beam
        (decoded,) = decode(self.model, [ids], beam, self.config["length_penalty"])
        output = decoded.tokens.tolist()
        if not output:
            raise ValueError(f"the model produced nothing for {text.strip()!r}")
        tokens = [self.target.tokens[k] for k in output]
        return Translation(pieces, tokens, self.target.decode(output), decoded.attention)

    def graphs(self) -> list[Graph]:
        """For ``rnnkit export``, two parts, so that greedy or beam search can run outside
        PyTorch: ``encoder``, (source (B, S) token ids, lengths (B,)) -> (values, keys,
        mask (B, S), the decoder's first state); ``decoder_step``, (token (B,), the state,
        values, keys, mask) -> (logits (B, V), the next state, attention (B, S)). Decoding
        starts from BOS (2) and ends at EOS (3)."""
        batch, steps = batch_and_time()
        model = self.model
        names = [*model.decoder.State._fields, "feed"]
        source = torch.randint(4, len(self.source), (3, 16))
        lengths = torch.tensor([16, 5, 9])
        encoder = Graph(
            "encoder", _Encoder(model), {"source": source, "lengths": lengths},
            ["values", "keys", "mask", *names],
            {"source": {0: batch, 1: steps}, "lengths": {0: batch}},
        )  # fmt: skip
        with torch.no_grad():
            values, keys, mask, *state = _Encoder(model.eval())(source, lengths)
        inputs = {"token": torch.tensor([2, 5, 7])}
        inputs |= dict(zip(names, state, strict=True))
        inputs |= {"values": values, "keys": keys, "mask": mask}
        dynamic = {name: {0: batch} for name in inputs}
        dynamic |= {name: {0: batch, 1: steps} for name in ("values", "keys", "mask")}
        outputs = ["logits", *(f"next_{name}" for name in names), "attention"]
        return [encoder, Graph("decoder_step", _DecoderStep(model), inputs, outputs, dynamic)]


class _Encoder(torch.nn.Module):
    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model = model

    def forward(self, source: torch.Tensor, lengths: torch.Tensor):
        memory, state = self.model.encode(source, lengths)
        return (*memory, *state.cell, state.feed)


class _DecoderStep(torch.nn.Module):
    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model = model

    def forward(self, token: torch.Tensor, *rest: torch.Tensor):
        *cell, feed, values, keys, mask = rest
        state = DecoderState(self.model.decoder.State(*cell), feed)
        logits, state, weights = self.model.step(token, state, Memory(values, keys, mask))
        return (logits, *state.cell, state.feed, weights)
