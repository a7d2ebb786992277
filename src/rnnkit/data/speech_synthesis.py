"""Speech synthesised offline with espeak-ng, whose library and voice data ship in the
pinned ``espeakng-loader`` package, called through ctypes (speak_lib.h's API):

    espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, ...)   audio handed to a callback
    espeak_SetVoiceByName("en-us+f3")                  an accent + a voice variant
    espeak_SetParameter(espeakRATE | espeakPITCH | espeakRANGE, value, absolute)
    espeak_Synth(text, ...)                            returns when the text is spoken

The library keeps one global voice and callback: one ``Synthesiser`` serves a process.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass
from functools import cache

import numpy as np

from rnnkit.data.packages import package_file

_SYNCHRONOUS = 0x02  # AUDIO_OUTPUT_SYNCHRONOUS
_RATE, _PITCH, _RANGE = 1, 3, 4  # espeak_PARAMETER values
_CHARS = 1  # espeakCHARS_UTF8
_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


@dataclass(frozen=True)
class Voice:
    """How one utterance is spoken: ``name`` is "accent+variant" (e.g. "en-us+m3"),
    ``rate`` words per minute (80-450), ``pitch`` and ``pitch_range`` 0-100."""

    name: str
    rate: int = 175
    pitch: int = 50
    pitch_range: int = 50


class Synthesiser:
    """Text -> int16 samples at ``sample_rate`` (22,050 Hz for espeak-ng's voices)."""

    def __init__(self) -> None:
        library = package_file("espeakng_loader", "libespeak-ng.so")
        data = package_file("espeakng_loader", "espeak-ng-data")
        self._lib = ctypes.CDLL(str(library))
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.sample_rate = self._lib.espeak_Initialize(_SYNCHRONOUS, 0, str(data).encode(), 0)
        if self.sample_rate <= 0:
            raise RuntimeError(f"espeak-ng did not start (its data: {data})")
        self._chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._receive)  # kept: the library holds only a pointer
        self._lib.espeak_SetSynthCallback(self._callback)
        self._lock = threading.Lock()
        self._variants = frozenset(variants())

    def _receive(self, samples, count: int, events) -> int:
        if count > 0:
            self._chunks.append(np.ctypeslib.as_array(samples, shape=(count,)).copy())
        return 0  # go on

    def speak(self, text: str, voice: Voice) -> np.ndarray:
        """The samples (N,) int16 of ``text`` spoken by ``voice``."""
        # espeak-ng quietly speaks with the plain accent when the variant is unknown
        variant = voice.name.partition("+")[2]
        if variant and variant not in self._variants:
            raise ValueError(f"espeak-ng has no voice {voice.name!r} (no variant {variant!r})")
        with self._lock:
            if self._lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
                raise ValueError(f"espeak-ng has no voice {voice.name!r}")
            for parameter, value in ((_RATE, voice.rate), (_PITCH, voice.pitch),
                                     (_RANGE, voice.pitch_range)):  # fmt: skip
                self._lib.espeak_SetParameter(parameter, int(value), 0)
            self._chunks = []
            encoded = text.encode()
            status = self._lib.espeak_Synth(
                ctypes.c_char_p(encoded), len(encoded) + 1, 0, 0, 0, _CHARS, None, None
            )
            if status != 0:
                raise RuntimeError(f"espeak-ng failed to speak {text!r} (status {status})")
            return np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)


@cache
def synthesiser() -> Synthesiser:
    """The process's one synthesiser."""
    return Synthesiser()


def variants() -> list[str]:
    """The names of espeak-ng's voice variants (m1, f3, klatt, croak, ...), sorted."""
    folder = package_file("espeakng_loader", "espeak-ng-data") / "voices" / "!v"
    return sorted(p.name for p in folder.iterdir() if p.is_file())
