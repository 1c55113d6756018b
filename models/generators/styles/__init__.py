"""The composer styles, one file each; `get_style(name)` looks one up.

Every name in models/styles.STYLE_NAMES has a file here (a test checks it).
"""

from __future__ import annotations

from ...errors import SongfarmError
from . import (ambient, blues, chinese_traditional, cinematic, classical, country, edm, folk, funk, guofeng,
               hiphop, jazz, latin, lofi, metal, pop, reggae, rnb, rock)
from .base import Style

STYLES: dict[str, Style] = {m.STYLE.name: m.STYLE for m in (
    pop, rock, metal, edm, hiphop, lofi, jazz, rnb, funk, blues, folk, country, classical, cinematic, ambient,
    reggae, latin, chinese_traditional, guofeng)}


class UnknownStyleError(SongfarmError, ValueError):
    """A plan names a style the composer does not have."""


def get_style(name: str) -> Style:
    """Style name → Style; raises UnknownStyleError naming the style and the known ones."""
    try:
        return STYLES[name]
    except KeyError:
        raise UnknownStyleError(f"plan.style={name!r}: unknown style (known: {', '.join(sorted(STYLES))})") from None
