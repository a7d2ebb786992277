"""Source-target pairs: TSV reading and its errors, grouping by source, and CMUdict."""

from __future__ import annotations

import pytest

from rnnkit.data.pairs import group_by_source, load_cmudict, load_pairs, read_pairs_tsv
from rnnkit.data.wesnoth import read_catalog_pairs
from rnnkit.tasks.metrics import edit_distance, sequence_error_rates


def test_a_tsv_is_read_line_by_line(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("read\tR IY D\n\nread\tR EH D\r\ncat\tK AE T\n", encoding="utf-8")
    pairs = read_pairs_tsv(path)
    assert pairs == [("read", "R IY D"), ("read", "R EH D"), ("cat", "K AE T")]
    assert group_by_source(pairs + [("cat", "K AE T")]) == [
        ("read", ["R IY D", "R EH D"]), ("cat", ["K AE T"])
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [("a\tb\nno tab here\n", "line 2: expected source<TAB>target, no tab"),
     ("a\tb\n\tb\n", "line 2: the source is empty"),
     ("a\t \n", "line 1: the target is empty"),
     ("\n\n", "holds no source<TAB>target lines")],
)  # fmt: skip
def test_bad_tsv_lines_are_named(tmp_path, text, message):
    path = tmp_path / "pairs.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_pairs_tsv(path)


def test_load_pairs_checks_its_arguments(tmp_path):
    with pytest.raises(ValueError, match="data must be cmudict, wesnoth-fr or a .tsv"):
        load_pairs(str(tmp_path / "pairs.csv"))
    with pytest.raises(ValueError, match="does not exist"):
        load_pairs(str(tmp_path / "missing.tsv"))
    (tmp_path / "p.tsv").write_text("a\tb\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"target_kind must be one of \('char', 'word', "):
        load_pairs(str(tmp_path / "p.tsv"), target_kind="phoneme")


def test_every_source_lands_in_one_split(tmp_path):
    path = tmp_path / "p.tsv"
    lines = [f"w{k}\tA B\nw{k}\tA C\n" for k in range(40)]
    path.write_text("".join(lines), encoding="utf-8")
    pairs = load_pairs(str(path), seed=3)
    parts = [[s for s, _ in part] for part in (pairs.train, pairs.valid, pairs.test)]
    assert sorted(sum(parts, [])) == sorted(f"w{k}" for k in range(40))
    assert all(refs == ["A B", "A C"] for _, refs in pairs.train + pairs.test)


def test_cmudict_words_without_stress_split_by_word():
    data = load_cmudict(seed=0)
    examples = data.train + data.valid + data.test
    words = [w for w, _ in examples]
    assert len(words) == len(set(words)) > 120_000
    assert len(data.test) == pytest.approx(0.1 * len(words), abs=1)
    entries = dict(examples)
    assert entries["read"] == ["R EH D", "R IY D"]  # "read(2)" joins "read"
    assert entries["aalborg"] == ["AO L B AO R G", "AA L B AO R G"]  # "# place, ..." dropped
    phonemes = {p for _, refs in examples for r in refs for p in r.split()}
    assert len(phonemes) == 39 and not any(p[-1].isdigit() for p in phonemes)


def test_error_rates_by_hand():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3 and edit_distance("flaw", "lawn") == 2
    rates = sequence_error_rates(
        [["R", "IY", "D"], ["K", "AE"], ["D", "AO", "G"]],
        [[["R", "EH", "D"], ["R", "IY", "D"]], [["K", "AE", "T"]], [["D", "AA", "G"]]],
    )
    assert rates["wer"] == pytest.approx(2 / 3)  # "read" matches its second reference
    assert rates["per"] == pytest.approx(2 / 9)  # one deletion, one substitution
    with pytest.raises(ValueError, match="one prediction per reference list"):
        sequence_error_rates([["A"]], [])


def _write_mo(path, messages: dict[str, str]) -> None:
    """A GNU gettext catalog (the .mo layout: a header, two tables of (length, offset),
    then the NUL-terminated strings), UTF-8, with its header entry."""
    import struct

    entries = {"": "Content-Type: text/plain; charset=UTF-8\n", **messages}
    keys = sorted(entries)
    ids = [k.encode() for k in keys]
    strs = [entries[k].encode() for k in keys]
    start = 7 * 4 + 2 * 8 * len(keys)
    originals, translations, blob = [], [], b""
    for table, texts in ((originals, ids), (translations, strs)):
        for text in texts:
            table.append((len(text), start + len(blob)))
            blob += text + b"\0"
    header = struct.pack("<7I", 0x950412DE, 0, len(keys), 28, 28 + 8 * len(keys), 0, 0)
    tables = b"".join(struct.pack("<2I", *entry) for entry in originals + translations)
    path.write_bytes(header + tables + blob)


def test_wesnoth_catalogs_become_plain_sentence_pairs(tmp_path, monkeypatch):
    _write_mo(tmp_path / "wesnoth-a.mo", {
        "We found the lich!": "Nous avons trouv\u00e9 la liche\u202f!",
        "speaker\x04Run for your lives!": "Sauvez-vous\xa0!",
        "It\u2019s over.": "C\u2019est fini.",
        "Elvish Fighter": "Elvish Fighter",  # left untranslated
        "<b>Victory:</b>": "<b>Victoire :</b>",  # markup
        "Defeat $unit.name": "Vaincre $unit.name",  # a game variable
        "First line\nsecond line": "Premi\u00e8re\nseconde",
        " ".join(["word"] * 16): " ".join(["mot"] * 16),  # longer than 15 words
        "one lich\x00two liches": "une liche\x00deux liches",  # plural forms
    })  # fmt: skip
    _write_mo(tmp_path / "wesnoth-b.mo", {"We found the lich!": "On a trouv\u00e9 la liche !"})
    assert sorted(read_catalog_pairs(tmp_path)) == [
        ("It's over.", "C'est fini."),
        ("Run for your lives!", "Sauvez-vous !"),
        ("We found the lich!", "Nous avons trouv\u00e9 la liche !"),  # the first catalog's
    ]  # fmt: skip
    monkeypatch.setenv("RNNKIT_WESNOTH_DIR", str(tmp_path))
    pairs = load_pairs("wesnoth-fr", source_kind="word", target_kind="word")
    assert pairs.name == "wesnoth-fr" and (pairs.source_kind, pairs.target_kind) == ("word",) * 2
    assert len(pairs.train + pairs.valid + pairs.test) == 3


def test_wesnoth_without_its_catalogs_says_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_WESNOTH_DIR", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="run `make wesnoth-fr`"):
        load_pairs("wesnoth-fr")
