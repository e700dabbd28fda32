"""How text becomes search terms, the same for indexing and querying on every backend."""

from __future__ import annotations

import re
import unicodedata

MAX_TERMS = 8
MAX_TERM = 100
_WORD = re.compile(r"\w+")


def fold(text: str) -> str:
    """Lowercase without diacritics ("Crème" -> "creme"), like FTS5's remove_diacritics."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def terms(text: str) -> list[str]:
    """The words of `text`, folded, in order ("_" counts as a separator as FTS5 does)."""
    return [w[:MAX_TERM] for w in _WORD.findall(fold(text).replace("_", " "))]


def vocabulary(*texts: str) -> set[str]:
    """The distinct words worth a typo correction (3 letters or more)."""
    return {t for text in texts for t in terms(text) if len(t) >= 3}


def max_typos(term: str) -> int:
    """Edits tolerated in a query word: none below 4 letters, 1 up to 7, 2 from 8."""
    if len(term) < 4:
        return 0
    return 1 if len(term) < 8 else 2


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (a swap of neighbours is one edit), or limit + 1 once
    it is certain to exceed `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return min(previous[-1], limit + 1)


def trigrams(term: str) -> list[str]:
    return sorted({term[i : i + 3] for i in range(len(term) - 2)})
