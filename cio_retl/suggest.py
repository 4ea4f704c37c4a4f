"""Did-you-mean suggestions for misspelled names (settings, warehouses, actions, fields, files, paths)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def nearest(name: str, known: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The known name closest to `name`: equal but for case and underscores, or the same letters swapped
    (short names: `hw` for `wh`), else difflib's best match."""
    candidates = [k for k in known if k != name]
    squash = {k.lower().replace("_", ""): k for k in candidates}
    exact = squash.get(name.lower().replace("_", ""))
    if exact:
        return exact
    swapped = [k for k in candidates if sorted(k.lower()) == sorted(name.lower())]
    if swapped:
        return swapped[0]
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=cutoff)
    return close[0] if close else None


def did_you_mean(name: str, known: Iterable[str], *, cutoff: float = 0.6, prefix: str = "", listing: str = "") -> str:
    """' (did you mean X?)' for the nearest known name; else '; <listing>: a, b, c' when a listing is named, or ''."""
    known = list(known)
    match = nearest(name, known, cutoff=cutoff)
    if match:
        return f" (did you mean {prefix}{match}?)"
    return f"; {listing}: {', '.join(known) or 'none'}" if listing else ""
