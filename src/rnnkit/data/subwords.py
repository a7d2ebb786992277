"""Subword units for a ``Tokenizer(kind="subword")``: a unigram language model over word
pieces (Kudo 2018), fitted on the training text by SentencePiece (Kudo & Richardson 2018).

A rare word is read as pieces the model has seen often (``dreadfully`` ->
``▁dreadful`` ``ly``), so an embedding learnt from random weights generalises across
a word's forms; the vocabulary stays small (``SIZE`` pieces). ``▁`` marks a piece that
starts a word, so pieces join back into the text. The fitted model is kept as its
serialised bytes (a protocol buffer: parsed, never executed), saved in the run's
tokenizer.json as base64.
"""

from __future__ import annotations

import base64
import io

import sentencepiece

#: Pieces in a fitted vocabulary (the most SentencePiece keeps; a small text yields fewer).
SIZE = 8000
WORD_START = "\u2581"


class Subwords:
    """A fitted segmentation: ``pieces("dreadfully boring")`` ->
    ``["▁dreadful", "ly", "▁boring"]``."""

    def __init__(self, model: bytes) -> None:
        self.model = model
        self._processor = sentencepiece.SentencePieceProcessor(model_proto=model)

    @classmethod
    def fit(cls, texts: list[str], size: int = SIZE) -> Subwords:
        """Fitted on ``texts`` on one thread, so that a fit is the same everywhere."""
        model = io.BytesIO()
        try:
            sentencepiece.SentencePieceTrainer.train(
                sentence_iterator=iter(texts), model_writer=model, vocab_size=size,
                model_type="unigram", character_coverage=1.0, hard_vocab_limit=False,
                num_threads=1, minloglevel=2,
            )  # fmt: skip
        except RuntimeError as error:  # e.g. a text with fewer distinct pieces than needed
            raise ValueError(f"cannot fit subwords to the training text: {error}") from None
        return cls(model.getvalue())

    def pieces(self, text: str) -> list[str]:
        return self._processor.encode(text, out_type=str)

    def vocabulary(self) -> list[str]:
        """Every piece the model may cut a text into (its control symbols left out)."""
        p = self._processor
        return [p.id_to_piece(k) for k in range(p.get_piece_size())
                if not (p.is_control(k) or p.is_unknown(k))]  # fmt: skip

    @staticmethod
    def join(pieces: list[str]) -> str:
        """The text the pieces spell: ``["▁dreadful", "ly"]`` -> ``"dreadfully"``."""
        return "".join(pieces).replace(WORD_START, " ").strip()

    def to_text(self) -> str:
        return base64.b64encode(self.model).decode("ascii")

    @classmethod
    def from_text(cls, text: str) -> Subwords:
        return cls(base64.b64decode(text.encode("ascii"), validate=True))
