"""Registry tag messages: human text, then a machine-readable block that is parsed safely.

    Register churn v1.2.0 (run brisk-otter)

    gitexp-registry: 1
    run: 1m8bpv3w0000
    artifact: model.pkl
    sha256: 9f86d0…
    after: 3

One `key: value` per line after the marker line; values are single lines
(newlines escaped as `\\n`). Unknown keys are ignored, the block is size-capped
and never evaluated: tags from other people's pushes are untrusted input.
`after` is the model's highest `#<n>` counter when the tag was made, which places
counter-less events (register, deregister) in the history without timestamps.
"""

from __future__ import annotations

MARKER = "gitexp-registry: 1"
KEYS = ("run", "run_name", "artifact", "sha256", "kind", "description", "by", "after", "seq")
MAX_VALUE = 4096


def compose(summary: str, fields: dict[str, object], text: str | None = None) -> str:
    """A tag message: a summary line, the user's text, then the block."""
    lines = [summary.strip().replace("\n", " ")]
    if text and text.strip():
        lines += ["", text.strip()]
    lines += ["", MARKER]
    for key in KEYS:
        value = fields.get(key)
        if value is not None and value != "":
            lines.append(f"{key}: {_escape(str(value))}")
    return "\n".join(lines) + "\n"


def parse(message: str) -> tuple[str, dict[str, str]]:
    """(human text, block fields); a message without a block gives ({} fields)."""
    head, sep, block = message.partition("\n" + MARKER + "\n")
    if not sep:
        if message.startswith(MARKER + "\n"):
            head, block = "", message[len(MARKER) + 1:]
        else:
            return message.strip(), {}
    fields: dict[str, str] = {}
    for line in block.splitlines()[:64]:
        key, colon, value = line.partition(": ")
        if colon and key in KEYS and key not in fields:
            fields[key] = _unescape(value[:MAX_VALUE])
    return head.strip(), fields


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\r", "").replace("\n", "\\n")


def _unescape(value: str) -> str:
    if "\\" not in value:
        return value
    out, i = [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            out.append("\n" if nxt == "n" else nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)
