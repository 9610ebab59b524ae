"""Commits and runs: git hooks that record run ids as trailers, and their installation."""
