"""The JSON bodies the server takes, with their limits: anything else is a 422 naming the
field (unknown fields included), before a model sees it; and the JSON of a forecast it
gives (``forecast_json``: the forecast endpoint's reply, and each forecast session's)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rnnkit.data.frequency import format_time

if TYPE_CHECKING:
    from rnnkit.tasks.forecast import Forecast

MAX_TEXT = 10_000  # characters of one text
MAX_ITEMS = 256  # texts or sequences in one request
MAX_STEPS = 10_000  # steps of one sequence
MAX_CHANNELS = 1_000
MAX_GENERATE = 2_000  # characters or words generated per request
MAX_COUNT = 20  # sentences per generator request
MAX_BEAM = 16

Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
Step = Annotated[list[Annotated[float, Field(allow_inf_nan=False)]], Field(max_length=MAX_CHANNELS)]
Sequence = Annotated[list[Step], Field(min_length=1, max_length=MAX_STEPS)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PredictRequest(Body):
    """Sentiment: ``text`` or ``texts``; seqclass: ``sequence`` or ``sequences`` ((T, C)
    numbers each). ``trace``: the prediction after every word or step too (one input)."""

    text: Text | None = None
    texts: Annotated[list[Text], Field(min_length=1, max_length=MAX_ITEMS)] | None = None
    sequence: Sequence | None = None
    sequences: Annotated[list[Sequence], Field(min_length=1, max_length=MAX_ITEMS)] | None = None
    trace: bool = False

    @model_validator(mode="after")
    def _one_input(self) -> PredictRequest:
        given = [k for k in ("text", "texts", "sequence", "sequences") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of text, texts, sequence, sequences; got "
                + (", ".join(given) or "none")
            )
        if self.trace and given[0] not in ("text", "sequence"):
            raise ValueError("trace is for one input: text or sequence")
        return self

    def inputs(self) -> tuple[list[Any], bool]:
        """-> (the inputs, whether one was given alone)."""
        for single, many in (("text", "texts"), ("sequence", "sequences")):
            if getattr(self, single) is not None:
                return [getattr(self, single)], True
            if getattr(self, many) is not None:
                return list(getattr(self, many)), False
        raise AssertionError("validated above")


class GenerateRequest(Body):
    """charlm: text after ``prime``; generator: ``count`` sentences of class ``condition``.
    ``stream``: each piece as a server-sent event as soon as it is drawn."""

    prime: Annotated[str, Field(max_length=MAX_TEXT)] | None = None
    length: Annotated[int, Field(ge=1, le=MAX_GENERATE)] | None = None
    temperature: Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)] = 0.8
    top_k: Annotated[int, Field(ge=1)] | None = None
    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    seed: Annotated[int, Field(ge=0, lt=2**63)] | None = None
    condition: Annotated[str, Field(max_length=200)] | None = None
    count: Annotated[int, Field(ge=1, le=MAX_COUNT)] = 1
    stream: bool = False


class ForecastRequest(Body):
    """``history``: the series as JSON records ({"date": ..., "sales": ...} each) or CSV
    text with a header; default: the run's training series. ``horizon``: periods ahead."""

    history: (
        Annotated[
            list[dict[str, str | float | int | None]], Field(min_length=1, max_length=MAX_STEPS)
        ]
        | Annotated[str, Field(min_length=1, max_length=1_000_000)]
        | None
    ) = None
    horizon: Annotated[int, Field(ge=1, le=10_000)] | None = None


class TranslateRequest(Body):
    text: Text
    beam: Annotated[int, Field(ge=1, le=MAX_BEAM)] | None = None


def forecast_json(result: Forecast) -> dict:
    """A forecast as the server gives it: targets (K,), times (H,), mean, lower, upper
    (H, K) and the intervals' coverage."""
    return {
        "targets": result.series.targets, "times": [format_time(t) for t in result.times],
        "mean": result.central.tolist(), "lower": result.lower.tolist(),
        "upper": result.upper.tolist(), "coverage": result.coverage,
    }  # fmt: skip
