"""`gitexp demo`: try gitexp on a small real project."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("directory", default="gitexp-demo", type=click.Path(path_type=Path))
def demo(directory: Path) -> int:
    """Create a demo repo in DIRECTORY, run a small sweep, and list the runs.

    The repo holds a logistic-regression training script on synthetic data
    (numpy; nothing is downloaded) and a params.yaml. Four runs with different
    learning rates are recorded through `gitexp run`. DIRECTORY must not exist
    or be empty.

    \b
    Example:
        gitexp demo
        cd gitexp-demo && gitexp show <name>
    """
    from gitexp.services.demo import check_target, run_demo

    check_target(directory)
    click.echo(f"gitexp: creating a demo repository in {directory}", err=True)
    code = run_demo(directory)
    click.echo(f"\nNext: cd {directory} && gitexp show <name>   (or: git log --all --oneline)", err=True)
    return code
