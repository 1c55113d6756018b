"""The page: ReportData, plots and pictures → one self-contained HTML file (jinja2).

Everything travels inside the file: the CSS and the script are inlined from templates/
(report.css, report.js),
plots and pictures are data: URIs, and the track table's rows are one JSON document the
script draws a page at a time. The JSON sits in `<script type="application/json">`, with
`<`, `>` and `&` escaped as \\u003c... so no text of a prompt can end that element.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2

from .data import ReportData
from .plots import Plot

TEMPLATES = Path(__file__).parent / "templates"
PAGE_ROWS = 100  # table rows drawn at a time: a 5,000-track page stays quick to open and to filter


def duration(seconds: float | None) -> str:
    """'4 h 02 min', '3 min 20 s', '12.3 s' ('–' when unknown)."""
    if seconds is None:
        return "–"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, s = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def number(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f} %"


def json_in_html(value: Any) -> str:
    """JSON safe inside a <script> element (no '</script>' or '<!--' can appear)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(duration=duration, number=number, percent=percent)
    return env


def render_page(data: ReportData, plots: list[Plot], pictures: dict[str, str]) -> str:
    """The page's HTML. `pictures` maps a track's picture key (data.picture_key) to a data: URI."""
    template = _environment().get_template("report.html.j2")
    # The style and the script go in as they are (not as templates: their braces are theirs).
    return template.render(d=data, plots=plots, money=data.prices.format, page_rows=PAGE_ROWS,
                           css=(TEMPLATES / "report.css").read_text(encoding="utf-8"),
                           script=(TEMPLATES / "report.js").read_text(encoding="utf-8"),
                           rows_json=json_in_html(data.tracks), pictures_json=json_in_html(pictures))
