"""JSON for the UI's responses and pages: NaN-safe, and safe inside a <script> element.

Light on purpose (no services): the server imports it before it starts answering.
"""

from __future__ import annotations

import json
import math

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any


def clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become the strings 'NaN', 'Infinity', '-Infinity'."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def to_json(data: Any) -> str:
    """JSON text of `data` (cleaned), safe to put inside a <script> element of an HTML page.

    `<`, `>` and `&` are written as \\u escapes, so no value can end the element
    (`</script>`) or open a comment (`<!--`); U+2028/9 likewise.
    """
    text = json.dumps(clean(data), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text
