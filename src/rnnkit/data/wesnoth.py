"""``wesnoth-fr``: English -> French sentence pairs, the French translations of the Battle
for Wesnoth campaigns (GPL-2+), as Debian ships them in its ``wesnoth-1.16-*`` packages.

No Python package ships an English-French corpus; these Debian packages do, as gettext
catalogs (``.mo``: English message -> French message). ``make wesnoth-fr`` downloads the 16
campaign packages of version ``WESNOTH_VERSION`` with ``apt-get download`` (about 150 MB,
once, at set-up, never at run time) and keeps only their French catalogs (3 MB) in
``catalog_dir()``.

A message becomes a pair when it is one line of plain text on both sides (no markup, no
game variables), is translated (not left in English) and has at most ``MAX_WORDS`` English
words: 5,627 pairs of game dialogue ("We found the lich!" -> "Nous avons trouvé la
liche !"), median 7 words.
"""

from __future__ import annotations

import gettext
import os
import re
import unicodedata
from pathlib import Path

WESNOTH_VERSION = "1:1.16.9-1"
MAX_WORDS = 15
_MARKUP = re.compile(r"[<>$@{}&\[\]]")  # Pango markup, WML variables and macros
# Typographic spaces and apostrophes, as plain ones: the model's vocabulary stays small.
_PLAIN = str.maketrans({"\u202f": " ", "\xa0": " ", "\u2019": "'"})


def catalog_dir() -> Path:
    """Where ``make wesnoth-fr`` puts the catalogs: ``$RNNKIT_WESNOTH_DIR``, else
    ``~/.cache/rnnkit/wesnoth-fr``."""
    default = Path.home() / ".cache" / "rnnkit" / "wesnoth-fr"
    return Path(os.environ.get("RNNKIT_WESNOTH_DIR", default))


def read_catalog_pairs(directory: Path, max_words: int = MAX_WORDS) -> list[tuple[str, str]]:
    """(English, French) from every ``*.mo`` catalog in ``directory``, in file and then
    English order; each English message once (its first translation)."""
    files = sorted(directory.glob("*.mo"))
    if not files:
        raise FileNotFoundError(
            f"the data set wesnoth-fr needs Debian's Wesnoth {WESNOTH_VERSION} French "
            f"catalogs in {directory}: run `make wesnoth-fr` (apt-get download, about 150 MB)"
        )
    pairs: dict[str, str] = {}
    for path in files:
        with open(path, "rb") as f:
            catalog = gettext.GNUTranslations(f)._catalog  # noqa: SLF001 (the only way in)
        for english, french in sorted(catalog.items(), key=lambda item: str(item[0])):
            if not isinstance(english, str) or not english or not french:
                continue  # the header, plural forms
            english = _plain(english.split("\x04")[-1])  # without its msgctxt
            french = _plain(french)
            if english == french or "\n" in english + french or "\t" in english + french:
                continue
            if _MARKUP.search(english + french) or len(english.split()) > max_words:
                continue
            pairs.setdefault(english, french)
    return list(pairs.items())


def _plain(text: str) -> str:
    return unicodedata.normalize("NFKC", text).translate(_PLAIN).strip()
