"""The Jinja2 environment of the UI's pages: autoescaping on for every template."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader

from gitexp.ui.jsonsafe import to_json


def templates() -> Environment:
    """Templates from `gitexp/ui/templates`; `|json` embeds data safely inside a <script> element."""
    env = Environment(loader=PackageLoader("gitexp.ui", "templates"), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["json"] = to_json
    return env
