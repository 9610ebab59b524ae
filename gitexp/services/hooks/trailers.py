"""The `Gitexp-Run: <run-id>` trailer: added to commit messages, read back from them."""

from __future__ import annotations

from gitexp.store import gitproc

TRAILER = "Gitexp-Run"
SCISSORS = "------------------------ >8 ------------------------"


def add_trailers(root: str, message_file: str, run_ids: list[str]) -> list[str]:
    """Add one trailer per run not already in the message; the ids added.

    `git interpret-trailers` places them as git would (before the comment section
    and a `--verbose` diff) and `--if-exists addIfDifferent` never repeats a pair,
    so amending, re-running the hook or a rebase adds no duplicate.
    """
    present = set(run_ids_in(_read(message_file)))
    new = [i for i in dict.fromkeys(run_ids) if i not in present]
    if new:
        args = ["interpret-trailers", "--in-place", "--where", "end", "--if-exists", "addIfDifferent"]
        for run_id in new:
            args += ["--trailer", f"{TRAILER}: {run_id}"]
        gitproc.git(root, *args, message_file)
    return new


def run_ids_in(message: str) -> list[str]:
    """The run ids of every Gitexp-Run trailer line in a message, in order."""
    return [run_id for run_id in map(_run_id, message.splitlines()) if run_id]


def _run_id(line: str) -> str | None:
    """The id of a `Gitexp-Run: <id>` line (key in any case, spaces around), else None.

    Plain string work, not `re`: a commit should not wait for the regex engine to load.
    """
    key, colon, value = line.strip().partition(":")
    words = value.split()
    return words[0] if colon and len(words) == 1 and key.lower() == TRAILER.lower() else None


def drop_if_only_trailers(message_file: str, comment: str = "#") -> bool:
    """Remove gitexp's trailers from a message that has nothing else; True if it did.

    git aborts a commit whose message is empty, but a message holding only
    trailers added by the hook is not empty to git: without this, saving the
    editor untouched would commit with `Gitexp-Run: …` as the whole message.
    """
    text = _read(message_file)
    lines = text.splitlines(keepends=True)
    body = []
    for line in lines:
        if line.startswith(comment) and SCISSORS in line:
            break
        if not line.startswith(comment):
            body.append(line)
    if any(line.strip() and not _run_id(line) for line in body) or not run_ids_in("".join(body)):
        return False
    with open(message_file, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write("".join(line for line in lines if not _run_id(line)))
    return True


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return f.read()
