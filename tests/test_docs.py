"""Meta-tests: the documentation matches the code it describes."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

import gitexp

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
SETUP_COMMANDS = (
    "pip install -e . && gitexp demo",
    "pip install -e '.[test]' && python -m pytest -q",
)


def _gen_cli() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli", DOCS / "gen_cli.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _command_names() -> list[str]:
    from gitexp.cli import COMMANDS

    return list(COMMANDS)


@pytest.mark.parametrize("name", _command_names())
def test_every_command_has_help_with_an_example(name: str) -> None:
    from gitexp.cli import COMMANDS

    gen = _gen_cli()
    cmd = gen.load_command(name, COMMANDS[name])  # fails with a clear message if the module is missing
    assert (cmd.help or "").strip(), f"gitexp {name} has no help text"
    text = gen.help_text(cmd, f"gitexp {name}")
    match = re.search(r"^\s*Examples?:\n((?:[ \t]+\S.*\n?)+)", text, re.MULTILINE)
    assert match, f"gitexp {name} --help has no 'Example:' block (use click's \\b to keep it verbatim)"
    lines = [line.strip() for line in match.group(1).splitlines()]
    assert any(line.startswith("gitexp ") for line in lines), \
        f"the example block of gitexp {name} shows no gitexp command: {lines}"


def test_top_level_help_has_an_example() -> None:
    from gitexp.cli import cli

    assert "Example:" in _gen_cli().help_text(cli, "gitexp")


def test_cli_reference_is_up_to_date() -> None:
    expected = _gen_cli().render()
    current = (DOCS / "cli.md").read_text(encoding="utf-8") if (DOCS / "cli.md").exists() else ""
    assert current == expected, "docs/cli.md is out of date: run python docs/gen_cli.py"


def test_cli_reference_has_a_section_per_command() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    sections = re.findall(r"^## (gitexp(?: \S+)?)$", text, re.MULTILINE)
    assert sections == ["gitexp"] + [f"gitexp {name}" for name in _command_names()]


@pytest.mark.parametrize("name", gitexp.__all__)
def test_public_api_name_is_documented(name: str) -> None:
    text = (DOCS / "python-api.md").read_text(encoding="utf-8")
    assert re.search(rf"\b{re.escape(name)}\b", text), f"gitexp.{name} is not documented in docs/python-api.md"


@pytest.mark.parametrize("command", SETUP_COMMANDS)
def test_readme_setup_commands(command: str) -> None:
    assert command in README.read_text(encoding="utf-8")


def test_readme_doc_links_exist() -> None:
    text = README.read_text(encoding="utf-8")
    links = re.findall(r"\[[^\]]*\]\(([^)\s]+)\)", text)
    local = [link.split("#", 1)[0] for link in links if not re.match(r"[a-z]+:|#", link)]
    assert any(link.startswith("docs/") for link in local), "README.md links to no documentation page"
    missing = [link for link in local if link and not (ROOT / link).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def _anchors(page: Path) -> set[str]:
    """GitHub-style anchors of a page's headings (code fences skipped)."""
    text = re.sub(r"^(`{3,}).*?^\1", "", page.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)
    out = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", text, re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").lower()).replace(" ", "-")
        out.add(slug)
    return out


def test_doc_pages_link_to_existing_pages_and_headings() -> None:
    broken = []
    for page in [README, *DOCS.glob("*.md")]:
        for link in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", link):
                continue  # http:, mailto:
            target, _, anchor = link.partition("#")
            path = (page.parent / target) if target else page
            if not path.exists():
                broken.append(f"{page.name} -> {link} (no such file)")
            elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
                broken.append(f"{page.name} -> {link} (no such heading)")
    assert not broken, f"broken links: {broken}"
