"""`python -m gitexp` is the `gitexp` command."""

if __name__ == "__main__":  # guarded: worker processes may import this module
    from gitexp._entry import entry

    entry()
