"""`gitexp push`, `fetch`, `pull`, `gc`: share runs through Git remotes (`remote setup` and `store set`
are in `setup_cmd.py`).

Data (what would be sent, JSON) goes to stdout; progress and summaries to stderr. The
commands are tables (`cli/spec.py`), parsed without click for ordinary input.
"""

from __future__ import annotations

import sys

from gitexp.cli.out import Progress, echo, echo_json, open_db, say, style
from gitexp.cli.spec import FLAG, VALUE, Arg, Opt, Spec

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any

    from gitexp.cli.spec import Values


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 1024:.0f} KiB" if n >= 1024 else f"{n} bytes"


def run_push(v: Values) -> int:
    """`gitexp push` with the values of its table."""
    from gitexp.services.sync.push import PushOptions, execute_push, pending_updates, plan_push

    dry_run = v["dry_run"]
    with open_db() as s:
        opts = PushOptions(v["remote"], v["runs"], v["experiment"], v["include_running"], dry_run,
                           not v["no_artifacts"], v["prune"])
        plan = plan_push(s, opts)
        if plan.secrets and not dry_run:
            _confirm_secrets(plan.secrets, v["yes"])
        if dry_run:
            _show_plan(plan, v["as_json"])
            return 0
        result = execute_push(s, plan, Progress()) if pending_updates(plan) else None
    _report_push(plan, result, v["as_json"])
    return 1 if plan.rejected else 0


def _confirm_secrets(secrets: list[tuple[str, str, str]], yes: bool) -> None:
    echo("gitexp: these files in the runs to send look like credentials:", err=True)
    for label, path, pattern in secrets:
        echo(f"  {path}  (matches {pattern}, in run {label})", err=True)
    if yes:
        return
    import click  # only to ask (or refuse to)

    if not sys.stdin.isatty():
        raise click.ClickException("refusing to send them without confirmation; pass --yes to send anyway")
    if not click.confirm("Send them anyway?", default=False, err=True):
        raise click.Abort()


def _show_plan(plan: Any, as_json: bool) -> None:
    data = {
        "remote": plan.remote.name, "send": [{"id": o.run_id, "name": o.name, "ref": o.ref,
                                              "new": o.expect is None} for o in plan.send],
        "up_to_date": plan.up_to_date, "behind": plan.behind, "rejected": plan.rejected,
        "running": plan.running, "artifacts": [{"run": a.run_id, "path": a.path, "size": a.size}
                                               for a in plan.artifacts],
        "delete": [u.ref for u in plan.deletes],
        "tags": [u.ref[len("refs/tags/"):] for u in plan.tags.send],
        "experiments": [u.ref.rsplit("/", 1)[-1] for u in plan.experiments.send],
    }
    if as_json:
        echo_json(data)
        return
    for o in plan.send:
        echo(f"{'new ' if o.expect is None else 'update'}  {o.run_id}  {o.name}")
    for a in plan.artifacts:
        echo(f"artifact  {a.run_id}  {a.path}  {_mib(a.size)}")
    for ref in data["delete"]:
        echo(f"delete  {ref}")
    for name in data["tags"]:
        echo(f"tag  {name}")
    for slug in data["experiments"]:
        echo(f"experiment  {slug}")
    say(f"would send {len(plan.send)} run(s), {len(plan.experiments.send)} experiment record(s), "
        f"{len(plan.tags.send)} registry tag(s) and {len(plan.artifacts)} artifact(s) to {plan.remote.name}; "
        f"{plan.up_to_date} up to date")
    _report_skips(plan)


def _report_skips(plan: Any) -> None:
    if plan.running:
        say(f"{len(plan.running)} running run(s) not sent (--include-running sends them)")
    if plan.behind:
        say(f"{len(plan.behind)} run(s) are newer on {plan.remote.name}: gitexp pull {plan.remote.name}")
    if plan.experiments.behind:
        say(f"{len(plan.experiments.behind)} experiment record(s) are newer on {plan.remote.name}: "
            f"gitexp pull {plan.remote.name}")
    for label, why in plan.rejected.items():
        echo(style(f"rejected: {label}: {why}", fg="red"), err=True)


def _report_push(plan: Any, result: Any, as_json: bool) -> None:
    if as_json:
        echo_json({"remote": plan.remote.name, "sent": result.sent if result else [],
                   "deleted": result.deleted if result else [], "up_to_date": plan.up_to_date,
                   "artifacts": result.artifacts_sent if result else 0,
                   "bytes": result.artifact_bytes if result else 0, "rejected": plan.rejected,
                   "tags": result.tags_sent if result else [],
                   "experiments": result.experiments_sent if result else [],
                   "behind": plan.behind, "running": plan.running})
    if result is None or not (result.sent or result.deleted or result.tags_sent or result.experiments_sent):
        if not plan.rejected:
            tags = f", {plan.tags.up_to_date} registry tag(s)" if plan.tags.up_to_date else ""
            say(f"{plan.remote.name} is up to date ({plan.up_to_date} run(s){tags})")
    else:
        deleted = f", deleted {len(result.deleted)}" if result.deleted else ""
        tags = f", {len(result.tags_sent)} registry tag(s)" if result.tags_sent else ""
        tags += f", {len(result.experiments_sent)} experiment record(s)" if result.experiments_sent else ""
        say(f"pushed {len(result.sent)} run(s) to {plan.remote.name}{deleted}{tags}, {result.artifacts_sent} "
            f"artifact(s) ({_mib(result.artifact_bytes)}); {plan.up_to_date} already up to date")
    _report_skips(plan)


def run_fetch(v: Values) -> int:
    """`gitexp fetch` with the values of its table."""
    from gitexp.services.sync.pull import fetch as do_fetch

    with open_db() as s:
        result = do_fetch(s, v["remote"])
    if v["as_json"]:
        echo_json({"remote": result.remote.name, "runs": len(result.refs), "updated": result.new,
                   "pruned": result.pruned, "tags": result.tags.created,
                   "tag_conflicts": result.tags.conflicts, "experiments": len(result.experiments),
                   "experiments_updated": result.experiments_new})
    say(f"{result.remote.name} has {len(result.refs)} run(s); {result.new} new or updated, {result.pruned} gone"
        + (f"; {result.experiments_new} experiment record(s) new or updated" if result.experiments_new else "")
        + _tags_note(result.tags))
    return 1 if _report_tag_conflicts(result.tags) else 0


def _tags_note(tags: Any) -> str:
    return f"; {len(tags.created)} registry tag(s) new" if tags.created else ""


def _report_tag_conflicts(tags: Any) -> bool:
    for name, why in tags.conflicts.items():
        echo(style(f"conflict: registry tag {name}: {why}", fg="red"), err=True)
    return bool(tags.conflicts)


def run_pull(v: Values) -> int:
    """`gitexp pull` with the values of its table."""
    from gitexp.services.sync.pull import pull as do_pull

    with open_db() as s:
        result = do_pull(s, v["remote"], v["experiment"], v["restore"], v["prefer"], v["artifacts"], Progress())
    integ, name, exps = result.integration, result.fetch.remote.name, result.experiments
    if v["as_json"]:
        echo_json({"remote": name, "created": integ.created, "fast_forwarded": integ.fast_forwarded,
                   "merged": integ.merged, "ahead": integ.ahead, "skipped_removed": integ.skipped_removed,
                   "conflicts": {k: [c.describe() for c in v] for k, v in integ.conflicts.items()},
                   "errors": integ.errors, "artifacts": result.artifacts, "tags": result.fetch.tags.created,
                   "tag_conflicts": result.fetch.tags.conflicts,
                   "experiments": {"created": exps.created, "fast_forwarded": exps.fast_forwarded,
                                   "merged": exps.merged, "ahead": exps.ahead, "same_name": exps.same_name,
                                   "conflicts": {k: [c.describe() for c in v] for k, v in exps.conflicts.items()},
                                   "errors": exps.errors}})
    say(f"pulled from {name}: {len(integ.created)} new, {len(integ.fast_forwarded)} updated, "
        f"{len(integ.merged)} merged, {len(integ.unchanged) + len(integ.ahead)} unchanged"
        + (f", {result.artifacts} artifact(s) ({_mib(result.artifact_bytes)})" if v["artifacts"] else "")
        + (f"; {exps.changed} experiment record(s) new, updated or merged" if exps.changed else "")
        + _tags_note(result.fetch.tags))
    bad_experiments = _report_experiments(exps, name)
    if integ.skipped_removed:
        say(f"{len(integ.skipped_removed)} run(s) removed here were not brought back (--restore does)")
    if integ.ahead:
        say(f"{len(integ.ahead)} run(s) have local edits to send: gitexp push {name}")
    for run_id, conflicts in integ.conflicts.items():
        for c in conflicts:
            echo(style(f"conflict: run {run_id}: {c.describe()}", fg="red"), err=True)
    if integ.conflicts:
        echo(f"hint: keep one side's values with: gitexp pull {name} --prefer ours  "
                   f"(or --prefer theirs); the other side's commit stays in the run's history", err=True)
    for what, why in {**integ.errors, **{str(i): e for i, e in enumerate(result.artifact_errors)}}.items():
        echo(style(f"error: {what}: {why}", fg="red"), err=True)
    tag_conflicts = _report_tag_conflicts(result.fetch.tags)
    return 1 if integ.conflicts or integ.errors or result.artifact_errors or tag_conflicts or bad_experiments else 0


def _report_experiments(exps: Any, remote: str) -> bool:
    """Say what pulling the experiment records left to do; True when something needs the user."""
    if exps.ahead:
        say(f"{len(exps.ahead)} experiment record(s) have local edits to send: gitexp push {remote}")
    for name, slugs in exps.same_name.items():
        say(f"experiments {', '.join(slugs)} are all named {name!r}: both kept; a lookup by that name picks "
            f"{slugs[0]} (the oldest), the others by their slug or id")
    for slug, conflicts in exps.conflicts.items():
        for c in conflicts:
            echo(style(f"conflict: experiment {slug}: {c.describe()}", fg="red"), err=True)
    if exps.conflicts:
        echo(f"hint: keep one side's values with: gitexp pull {remote} --prefer ours  (or --prefer theirs); "
                   "the other side's record stays in the experiment's history", err=True)
    for slug, why in exps.errors.items():
        echo(style(f"error: experiment {slug}: {why}", fg="red"), err=True)
    return bool(exps.conflicts or exps.errors)


def run_gc(v: Values) -> None:
    """`gitexp gc` with the values of its table."""
    from gitexp.services.sync.gc import collect

    dry_run, grace = v["dry_run"], v["grace"]
    with open_db() as s:
        result = collect(s, dry_run, grace * 86400)
    for sha in result.removed:
        echo(sha)
    say(f"{'would remove' if dry_run else 'removed'} {len(result.removed)} object(s) ({_mib(result.freed)}); "
        f"{result.kept_young} unreachable but younger than {grace:g} days kept")


REMOTE = Arg("remote", required=False)
JSON_OUTCOME = Opt(("--json",), "as_json", FLAG, "Print the outcome as JSON.")
EXPERIMENT = Opt(("-e", "--experiment"), "experiment", VALUE, "Only this experiment's runs.")
PUSH_HELP = """Send runs to REMOTE: the ones it lacks or has older, with their large artifacts.

Experiment records and the runs' registry tags go with them.

REMOTE defaults to the current branch's upstream remote, else origin.
Large artifacts go to the remote's artifact store first (gitexp store set),
then the run refs. Nothing is forced: a run edited both here and on the
remote is rejected and named; `gitexp pull` merges it.

\b
Example:
    gitexp push
    gitexp push origin brisk-otter
    gitexp push origin -e baseline --dry-run
"""
FETCH_HELP = """Fetch REMOTE's runs and experiment records into refs/gitexp/remotes/REMOTE/; local ones are not touched.

`gitexp pull` then integrates them; `gitexp ls --unpushed` compares.

\b
Example:
    gitexp fetch
    gitexp fetch origin
"""
PULL_HELP = """Fetch REMOTE's runs and integrate them: new runs appear, edits are merged.

A run edited here and there gets a merge commit with both histories as
parents. Conflicting edits (one tag set to two values) leave the run as it
is here and are listed with the command that settles them. Runs removed
here with rm are not brought back unless --restore.

\b
Example:
    gitexp pull
    gitexp pull origin -e baseline --artifacts
    gitexp pull origin --prefer theirs
"""
GC_HELP = """Remove local side-store objects no ref and no active run reaches.

Only objects older than the grace period go, so nothing a running run has
just stored is lost.

\b
Example:
    gitexp gc --dry-run
    gitexp gc
"""

push = Spec([
    REMOTE,
    Arg("runs", many=True),
    EXPERIMENT,
    Opt(("-a", "--all"), "all_", FLAG, "Every run (the default when no RUN is given)."),
    Opt(("--include-running",), "include_running", FLAG, "Also send runs still RUNNING."),
    Opt(("-n", "--dry-run"), "dry_run", FLAG, "Say what would be sent; send nothing."),
    Opt(("--no-artifacts",), "no_artifacts", FLAG, "Send the run records only, not large artifacts."),
    Opt(("--prune",), "prune", FLAG, "Also delete on the remote the runs removed here with rm."),
    Opt(("-y", "--yes"), "yes", FLAG, "Do not ask about files that look like credentials."),
    JSON_OUTCOME,
], PUSH_HELP, run_push)

fetch = Spec([REMOTE, JSON_OUTCOME], FETCH_HELP, run_fetch)

pull = Spec([
    REMOTE,
    EXPERIMENT,
    Opt(("--artifacts",), "artifacts", FLAG, "Also download large artifacts into the local store."),
    Opt(("--restore",), "restore", FLAG, "Bring back runs removed here with rm."),
    Opt(("--prefer",), "prefer", VALUE, "Settle conflicting edits by keeping this side's values.",
        choices=("ours", "theirs")),
    JSON_OUTCOME,
], PULL_HELP, run_pull)

gc = Spec([
    Opt(("-n", "--dry-run"), "dry_run", FLAG, "List what would be removed; remove nothing."),
    Opt(("--grace",), "grace", VALUE, "Keep unreachable objects younger than this many days.", number=float,
        minimum=0, default=14.0, show_default=True),
], GC_HELP, run_gc)
