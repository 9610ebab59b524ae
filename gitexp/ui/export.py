"""Static export: the runs table and each run's page as HTML + JSON, for a CI artifact or a docs site.

Pages opened from `file://` cannot fetch JSON, so each embeds its data (escaped
for `</script>` and `<!--`); the same data is written as `.json` files beside
them. Needs Jinja2 only (no server).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gitexp.services.session import Session
from gitexp.ui import data
from gitexp.ui.templating import templates

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (a command's start pays for it)
if TYPE_CHECKING:
    from typing import Any

STATIC = Path(__file__).parent / "static"


@dataclass
class Exported:
    folder: Path
    runs: int


def export_site(s: Session, folder: str | Path, filter_string: str = "", experiment: str | None = None,
                progress: Callable[[int, int], None] | None = None) -> Exported:
    """Write `index.html`, `runs.json`, `runs/<id>.html|.json` and `static/` under `folder`."""
    out = Path(folder)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    table = data.runs_table(s, filter_string, None, experiment, everything=True)
    if "error" in table:
        from gitexp.errors import FilterSyntaxError

        err = table["error"]
        raise FilterSyntaxError(err["message"].rsplit(" at position", 1)[0], filter_string, err["position"])
    table["default_columns"] = _default_columns(table)
    env = templates()
    common = {"static_export": True, "writes": False, "csrf": "", "read_only_reason": None}
    exps = sorted({r["experiment"] for r in table["rows"]})
    _write(out / "index.html", env.get_template("runs.html").render(
        root="", experiments=exps, filter=filter_string, page={"static": True, "experiments": exps},
        embeds={"runs-data": table}, **common))
    _write_json(out / "runs.json", table)
    ids = [r["id"] for r in table["rows"]]
    for n, run_id in enumerate(ids, 1):
        page = data.run_page(s, run_id)
        hist = data.histories(s, [run_id]) if page["metric_keys"] else {"metrics": [], "runs": []}
        _write(out / "runs" / f"{run_id}.html", env.get_template("run.html").render(
            root="../", d=page, page={"static": True, "run": run_id, "status": page["run"]["info"].get("status"),
                                      "metrics": page["metric_keys"]},
            embeds={"histories-data": hist}, **common))
        _write_json(out / "runs" / f"{run_id}.json", {**page, "histories": hist})
        if progress:
            progress(n, len(ids))
    _copy_static(out / "static")
    return Exported(out, len(ids))


def _default_columns(table: dict[str, Any]) -> list[str]:
    keys = table["keys"]
    varying = [c for c in keys["params"] if len({json.dumps(r["values"].get(c), sort_keys=True, default=str)
                                                 for r in table["rows"]}) > 1]
    return (varying or keys["params"])[:data.DEFAULT_PARAMS] + keys["metrics"][:data.DEFAULT_METRICS]


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def _write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(data.clean(payload), ensure_ascii=False, indent=1), encoding="utf-8")


def _copy_static(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for item in STATIC.iterdir():
        if item.is_file():
            shutil.copy2(item, dest / item.name)
