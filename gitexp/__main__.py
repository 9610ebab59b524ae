"""`python -m gitexp` is the `gitexp` command."""

from gitexp.cli.errors import entry

entry()
