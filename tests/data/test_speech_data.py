"""Speech data: espeak-ng synthesis, the ``spoken-digits`` set (with its cache), and a user's
WAV directory or .npz of features, with a one-line error naming what is at fault."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.io import wavfile
from scipy.signal import correlate

from rnnkit.data.audio import read_wav
from rnnkit.data.speech import load_speech, read_features_npz
from rnnkit.data.speech_synthesis import Voice, synthesiser, variants
from rnnkit.data.spoken_digits import (
    ACCENTS,
    DIGITS,
    TEST_VARIANTS,
    VALID_VARIANTS,
    noisy,
    spoken_digits,
)

RATE = 16_000

# --- espeak-ng ---------------------------------------------------------------------------


def test_synthesiser_speaks_int16_at_22050_hz():
    speaker = synthesiser()
    samples = speaker.speak("one two", Voice("en-us+m3"))
    assert speaker.sample_rate == 22_050
    assert samples.dtype == np.int16 and samples.ndim == 1
    assert 0.2 * 22_050 < len(samples) < 3 * 22_050  # two words: well under three seconds
    assert np.abs(samples.astype(np.int64)).max() > 1000  # not silence


@pytest.mark.parametrize("name", ["xx-nowhere", "en-us+nobody"])
def test_unknown_voice_is_named(name):
    with pytest.raises(ValueError, match=name.replace("+", r"\+")):
        synthesiser().speak("one", Voice(name))


def test_faster_rate_gives_fewer_samples():
    text = "three four five six seven"
    slow = synthesiser().speak(text, Voice("en-us+m1", rate=100))
    fast = synthesiser().speak(text, Voice("en-us+m1", rate=300))
    assert len(fast) < 0.7 * len(slow)


def test_variants_hold_the_held_out_voices():
    names = variants()
    assert {"m1", "f2"} <= set(names)
    assert set(VALID_VARIANTS) <= set(names) and set(TEST_VARIANTS) <= set(names)
    assert not set(VALID_VARIANTS) & set(TEST_VARIANTS)


# --- spoken-digits -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """(cache dir, first call, second call) of a tiny spoken-digits set."""
    root = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RNNKIT_CACHE_DIR", str(root))
        first = spoken_digits(sizes=(12, 4, 4), quiet=True)
        files = sorted((root / "spoken-digits").glob("*.npz"))
        second = spoken_digits(sizes=(12, 4, 4), quiet=True)
        other_seed = spoken_digits(sizes=(12, 4, 4), seed=1, quiet=True)
    return files, first, second, other_seed


def test_spoken_digits_splits_texts_and_features(digits):
    _, splits, _, _ = digits
    assert [len(s) for s in splits] == [12, 4, 4]
    for split in splits:
        assert len(split.features) == len(split.texts) == len(split.voices)
        for text, x in zip(split.texts, split.features, strict=True):
            words = text.split(" ")
            assert 2 <= len(words) <= 7 and set(words) <= set(DIGITS), text
            assert x.dtype == np.float32 and x.ndim == 2 and x.shape[0] > 0 and x.shape[1] == 40
            assert np.isfinite(x).all()


def test_spoken_digits_voices_never_cross_splits(digits):
    _, (train, valid, test), _, _ = digits
    held_out = set(VALID_VARIANTS) | set(TEST_VARIANTS)
    for split, allowed in ((valid, VALID_VARIANTS), (test, TEST_VARIANTS)):
        for voice in split.voices:
            accent, variant = voice.split("+")
            assert accent in ACCENTS and variant in allowed, voice
    for voice in train.voices:
        accent, variant = voice.split("+")
        assert accent in ACCENTS and variant in variants() and variant not in held_out, voice


def test_spoken_digits_cache(digits):
    files, first, second, _ = digits
    assert len(files) == 1 and files[0].stat().st_size > 0
    for a, b in zip(first, second, strict=True):
        assert a.texts == b.texts and a.voices == b.voices
        for x, y in zip(a.features, b.features, strict=True):
            np.testing.assert_array_equal(x, y)


def test_spoken_digits_seed_changes_the_texts(digits):
    _, first, _, other = digits
    assert first[0].texts != other[0].texts


class _MidpointRng:
    """Every uniform draw at the middle of its range: pads 0.25 s, SNR 25 dB, gain -10 dB."""

    def __init__(self) -> None:
        self._rng = np.random.default_rng(0)

    def uniform(self, low: float, high: float) -> float:
        return (low + high) / 2

    def standard_normal(self, shape):
        return self._rng.standard_normal(shape)


def test_noisy_adds_the_requested_noise_gain_and_padding():
    audio = (0.5 * np.sin(2 * np.pi * 300.0 * np.arange(RATE) / RATE)).astype(np.float32)
    out = noisy(audio, _MidpointRng())
    assert out.dtype == np.float32 and len(out) == 4000 + RATE + 4000
    gain = 10 ** (-10 / 20)
    clean = gain * np.concatenate((np.zeros(4000), audio, np.zeros(4000)))
    noise = out - clean
    snr = 10 * np.log10(np.mean(clean**2) / np.mean(noise**2))
    assert snr == pytest.approx(25.0, abs=0.2)
    # the noise is white, zero-mean and the same before, during and after the speech
    expected_std = gain * np.sqrt(0.125 * RATE / len(out) / 10**2.5)  # 0.125: sine power
    for part in (noise[:4000], noise[4000:-4000], noise[-4000:]):
        assert np.std(part) == pytest.approx(expected_std, rel=0.05)
        assert abs(np.mean(part)) < 0.1 * expected_std
    assert abs(np.corrcoef(noise[:-1], noise[1:])[0, 1]) < 0.05


def test_noisy_ranges_with_a_real_rng():
    audio = (0.3 * np.random.default_rng(5).standard_normal(2000)).astype(np.float32)
    rng = np.random.default_rng(0)
    snrs, gains = [], []
    for _ in range(30):
        out = noisy(audio, rng).astype(np.float64)
        padding = len(out) - len(audio)
        assert 2 * 1600 <= padding <= 2 * 6400
        # where the speech went: the peak of the cross-correlation, within the first pad
        lead = int(np.argmax(correlate(out, audio, mode="valid", method="fft")))
        assert 1600 <= lead <= 6400 and padding - lead >= 1600
        gain = out[lead : lead + len(audio)] @ audio / (audio @ audio)
        clean = np.zeros_like(out)
        clean[lead : lead + len(audio)] = gain * audio
        snrs.append(10 * np.log10(np.mean(clean**2) / np.mean((out - clean) ** 2)))
        gains.append(20 * np.log10(gain))
    assert 9.5 <= min(snrs) and max(snrs) <= 40.5, (min(snrs), max(snrs))
    assert min(snrs) < 20 and max(snrs) > 30  # drawn over the range, not fixed
    assert -20.5 <= min(gains) and max(gains) <= 0.5, (min(gains), max(gains))
    assert min(gains) < -12 and max(gains) > -8


# --- a user's WAV directory --------------------------------------------------------------

PHRASES = ["One   TWO", "three", " four five  six ", "Seven eight", "nine",
           "zero one", "two two", "THREE four", "five", "six seven eight nine"]  # fmt: skip


@pytest.fixture(scope="module")
def wav_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wavs")
    speaker = synthesiser()
    rows = ["path,text"]
    for k, phrase in enumerate(PHRASES):
        samples = speaker.speak(phrase, Voice("en-us+m3"))
        wavfile.write(folder / f"u{k}.wav", speaker.sample_rate, samples)
        rows.append(f"u{k}.wav,{phrase}")
    (folder / "transcripts.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_wav_directory_splits_80_10_10_and_normalises_text(wav_dir):
    train, valid, test = load_speech(str(wav_dir), quiet=True)
    assert [len(s) for s in (train, valid, test)] == [8, 1, 1]
    expected = {f"u{k}.wav": " ".join(p.lower().split()) for k, p in enumerate(PHRASES)}
    seen = []
    for split in (train, valid, test):
        for x, text, path in zip(split.features, split.texts, split.voices, strict=True):
            assert text == expected[path]
            # the features are those of this row's file: 25 ms frames every 10 ms
            n = len(read_wav(wav_dir / path))
            assert x.shape == (1 + (n - 400) // 160, 40) and x.dtype == np.float32
            seen.append(path)
    assert sorted(seen) == sorted(expected)
    assert "one two" in expected.values() and "four five six" in expected.values()


def test_wav_directory_without_transcripts(tmp_path):
    with pytest.raises(FileNotFoundError, match="transcripts.csv"):
        load_speech(str(tmp_path))


def test_wav_directory_with_wrong_columns(tmp_path):
    (tmp_path / "transcripts.csv").write_text("file,words\na.wav,one\n")
    with pytest.raises(ValueError, match=r"transcripts.csv.*path and text"):
        load_speech(str(tmp_path))


def _silence(path, n: int):
    wavfile.write(path, RATE, np.zeros(n, np.int16))


def test_wav_directory_empty_transcript_names_the_line(tmp_path):
    for k in range(3):
        _silence(tmp_path / f"{k}.wav", 1000)
    (tmp_path / "transcripts.csv").write_text("path,text\n0.wav,one\n1.wav,  \n2.wav,two\n")
    with pytest.raises(ValueError, match="line 3"):
        load_speech(str(tmp_path), quiet=True)


def test_wav_shorter_than_a_frame_is_named(tmp_path):
    _silence(tmp_path / "long.wav", 1000)
    _silence(tmp_path / "short.wav", 399)  # one sample short of a 25 ms frame
    (tmp_path / "transcripts.csv").write_text("path,text\nlong.wav,one\nshort.wav,two\n")
    with pytest.raises(ValueError, match="short.wav"):
        load_speech(str(tmp_path), quiet=True)


# --- an .npz of features -----------------------------------------------------------------

UNPICKLED = []


def _record_unpickling(tag: str) -> str:
    UNPICKLED.append(tag)
    return tag


class _Tripwire:
    """Records itself when unpickled: a refusal must leave ``UNPICKLED`` empty."""

    def __reduce__(self):
        return _record_unpickling, ("unpickled",)


def _features(n: int = 10, t: int = 6, c: int = 3):
    x = np.arange(n * t * c, dtype=np.float32).reshape(n, t, c) / 10
    lengths = np.array([1 + k % t for k in range(n)])
    return x, lengths, np.array([f"  Word{k}  NINE " for k in range(n)])


def test_npz_loads_and_splits(tmp_path):
    x, lengths, text = _features()
    np.savez(tmp_path / "f.npz", X=x, lengths=lengths, text=text)
    splits = load_speech(str(tmp_path / "f.npz"))
    assert [len(s) for s in splits] == [8, 1, 1]
    for split in splits:
        for features, words, name in zip(split.features, split.texts, split.voices, strict=True):
            k = int(name)
            assert words == f"word{k} nine"
            np.testing.assert_array_equal(features, x[k, : lengths[k]])


@pytest.mark.parametrize("n, sizes", [(3, [1, 1, 1]), (5, [3, 1, 1]), (25, [21, 2, 2])])
def test_small_sets_keep_every_part(tmp_path, n, sizes):
    x, lengths, text = _features(n=n)
    np.savez(tmp_path / "f.npz", X=x, lengths=lengths, text=text)
    splits = load_speech(str(tmp_path / "f.npz"), seed=3)
    assert [len(s) for s in splits] == sizes
    assert sorted(int(v) for s in splits for v in s.voices) == list(range(n))


def test_npz_without_text(tmp_path):
    x, lengths, _ = _features(n=4)
    np.savez(tmp_path / "f.npz", X=x, lengths=lengths)
    with pytest.raises(ValueError, match="text"):
        load_speech(str(tmp_path / "f.npz"))
    unlabelled = read_features_npz(tmp_path / "f.npz", labelled=False)
    assert unlabelled.texts == ["", "", "", ""]
    assert [len(f) for f in unlabelled.features] == [1, 2, 3, 4]
    np.testing.assert_array_equal(unlabelled.features[2], x[2, :3])


def test_npz_with_pickled_text_is_refused_unopened(tmp_path):
    x, lengths, _ = _features(n=3)
    text = np.array(["one", _Tripwire(), "two"], dtype=object)
    np.savez(tmp_path / "f.npz", X=x, lengths=lengths, text=text)
    UNPICKLED.clear()
    with pytest.raises(ValueError, match="unpickling"):
        load_speech(str(tmp_path / "f.npz"))
    assert UNPICKLED == []
    with np.load(tmp_path / "f.npz", allow_pickle=True) as saved:  # the tripwire is armed
        saved["text"]
    assert UNPICKLED == ["unpickled"]


@pytest.mark.parametrize("fault, change, message", [
    ("2-D X", lambda x, n, t: (x[:, :, 0], n, t), "X must be"),
    ("length 0", lambda x, n, t: (x, np.where(np.arange(len(n)) == 2, 0, n), t), "length"),
    ("length > T", lambda x, n, t: (x, np.where(np.arange(len(n)) == 2, 7, n), t), "length"),
    ("NaN in X", lambda x, n, t: (np.where(x == x.flat[5], np.nan, x), n, t), "finite"),
    ("inf in X", lambda x, n, t: (np.where(x == x.flat[5], np.inf, x), n, t), "finite"),
])  # fmt: skip
def test_npz_faults_are_named(tmp_path, fault, change, message):
    x, lengths, text = change(*_features())
    np.savez(tmp_path / "f.npz", X=x, lengths=lengths, text=text)
    with pytest.raises(ValueError, match=message):
        load_speech(str(tmp_path / "f.npz"))


def test_npz_that_is_not_an_npz(tmp_path):
    (tmp_path / "words.npz").write_text("not numbers")
    with pytest.raises(ValueError, match=r"words.npz is not an \.npz"):
        load_speech(str(tmp_path / "words.npz"))


def test_fewer_than_three_utterances(tmp_path):
    x, lengths, text = _features(n=2)
    np.savez(tmp_path / "f.npz", X=x, lengths=lengths, text=text)
    with pytest.raises(ValueError, match="at least 3"):
        load_speech(str(tmp_path / "f.npz"))


def test_unknown_source_lists_what_is_accepted():
    with pytest.raises(ValueError, match=r"spoken-digits.*transcripts.csv.*\.npz.*'digits9'"):
        load_speech("digits9")
