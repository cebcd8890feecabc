"""Safe HTML from Python: every value is escaped unless it is already `Html`.

Pages are built with `fmt(template, ...)`, which escapes its arguments the way
markupsafe's `Markup.format` does, so user data (names, log lines, reasons)
never reaches the browser as markup. Numbers pass through unchanged so format
specs such as `{:.1f}` keep working.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from typing import Any

__all__ = ["Html", "esc", "fmt", "join", "json_for_script"]


class Html(str):
    """A string known to be safe markup."""

    __slots__ = ()


def esc(value: Any) -> Any:
    """`value` as safe markup: Html as is, numbers as is, anything else escaped."""
    if isinstance(value, Html):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if value is None:
        return Html("")
    return Html(html.escape(str(value), quote=True))


def fmt(template: str, *args: Any, **kwargs: Any) -> Html:
    """`template.format(...)` with every argument escaped; the template is trusted."""
    return Html(template.format(*(esc(a) for a in args), **{k: esc(v) for k, v in kwargs.items()}))


def join(parts: Iterable[Any], sep: str = "") -> Html:
    return Html(sep.join(str(esc(p)) for p in parts))


def json_for_script(data: Any) -> Html:
    """JSON safe inside `<script type="application/json">`: no `<` can close the tag."""
    text = json.dumps(data, separators=(",", ":"), default=str)
    return Html(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))
