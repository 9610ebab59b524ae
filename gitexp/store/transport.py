"""Push and fetch run refs through a Git remote: the git CLI when installed, dulwich otherwise.

The git CLI runs the user's credential helpers, ssh config, proxies and protocol
v2 exactly as `git push` does (dulwich runs none of them), so it is preferred;
dulwich's client is the fallback on machines without git. `GITEXP_TRANSPORT=git`
or `=dulwich` forces one (tests use it to cover both).

The refs to send are chosen by gitexp (a push's glob only matches refs made for
that push, `_stage`), pushes are never forced: each update names the remote value
it expects (a lease), and a ref that moved meanwhile is rejected by the remote,
not overwritten. Fetches only write the
remote-tracking namespace `refs/gitexp/remotes/<remote>/…`: `runs/…` for the run
refs and `experiments/<slug>` for the experiment records (`SHARED`), in one round trip;
the one listing of the remote (`ls-remote`) also names its registry tags (`TAGS`).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from gitexp.errors import GitexpError, RemoteRejected
from gitexp.slots import Slots, Value
from gitexp.store.gitproc import find_program
from gitexp.store.refs import write_packed_refs
from gitexp.store.repo import GitDB

ZERO = "0" * 40
CHUNK_REFS = 400  # refspecs per `git push` (command lines stay far under ARG_MAX)
GITEXP_REFS = "refs/gitexp/"
SHARED = ("refs/gitexp/runs/", "refs/gitexp/experiments/")  # the families fetched into tracking refs
TAGS = "refs/tags/"
LISTED = (*SHARED, TAGS)  # what one listing of the remote reports
# A full object id given to git is otherwise also looked up as a ref name (six lookups each,
# for git's "refname is ambiguous" warning): 1,000 pushed ids cost 6,000 needless stat calls.
EXACT_IDS = ("-c", "core.warnAmbiguousRefs=false")
# A remote on this machine gets its objects as they are: no delta search (a third of
# `git pack-objects`' CPU for new runs, for a pack ~10 % larger that the remote's own gc
# deltifies later). Over a network, deltas save more than they cost: git's defaults stay.
LOCAL_PACKING = ("-c", "pack.window=0")


class Remote(Value):
    """A configured Git remote: its name and URL (a path for a local bare repo)."""

    name: str
    url: str

    @property
    def tracking_root(self) -> str:
        return f"refs/gitexp/remotes/{self.name}/"

    @property
    def tracking_prefix(self) -> str:
        return self.tracking_root + "runs/"

    def tracking_ref(self, ref: str) -> str:
        """`refs/gitexp/<family>/…` as its remote-tracking copy `refs/gitexp/remotes/<name>/<family>/…`."""
        return self.tracking_root + ref[len(GITEXP_REFS):]

    @property
    def is_local(self) -> bool:
        """Whether the URL is a path or `file://` (git's rule: no `://`, and no `host:` before a slash)."""
        if self.url.startswith("file://"):
            return True
        colon, slash = self.url.find(":"), self.url.find("/")
        drive = os.name == "nt" and colon == 1  # `C:\…`
        return "://" not in self.url and (colon < 0 or 0 <= slash < colon or drive)

    def tracking_refs(self, db: GitDB) -> dict[str, str]:
        """{tracking ref: sha} of every shared family, as the last fetch left them."""
        return {r: s for family in SHARED for r, s in db.refs_under(self.tracking_ref(family)).items()}


class RefUpdate(Value):
    """Set remote `ref` to `new` (None deletes it) if it still is `expect` (None: absent)."""

    ref: str
    new: str | None
    expect: str | None


class PushOutcome(Slots):
    """Which updates the remote applied and which it refused (ref → reason); the remote's tracking refs after."""

    __slots__ = ("applied", "rejected", "tracking")

    def __init__(self, tracking: dict[str, str] | None = None) -> None:
        self.applied: list[str] = []
        self.rejected: dict[str, str] = {}
        self.tracking: dict[str, str] = {} if tracking is None else tracking


class Fetched(Slots):
    """What one fetch saw: {remote ref: sha} of the `LISTED` families as the remote has them now
    (`advertised`), and {tracking ref: sha} before the fetch and after it (`tracking`)."""

    __slots__ = ("advertised", "before", "tracking")

    def __init__(self, advertised: dict[str, str], before: dict[str, str], tracking: dict[str, str]) -> None:
        self.advertised, self.before, self.tracking = advertised, before, tracking

    @property
    def moved(self) -> bool:
        return self.before != self.tracking

    def under(self, prefix: str) -> dict[str, str]:
        """The advertised refs under `prefix` (a family of `LISTED`)."""
        return {ref: sha for ref, sha in self.advertised.items() if ref.startswith(prefix)}


def find_remote(db: GitDB, name: str) -> Remote:
    """The remote called `name` in the repository's config; a clear error if there is none."""
    url = db.config(f"remote.{name}", "url") if name else None
    if url is None:
        looks_like_url = any(c in (name or "") for c in "/:\\")
        raise GitexpError(f"no git remote named {name!r}",
                          hint=f"name it first: git remote add team {name}" if looks_like_url else
                          f"add it first: git remote add {name or 'origin'} URL")
    return Remote(name, url)


def default_remote_name(db: GitDB) -> str:
    """The current branch's upstream remote, else `origin`."""
    try:  # HEAD is a file of the (worktree's) git dir: read as such, no dulwich for one line
        head = (Path(db.place.control_dir) / "HEAD").read_bytes()
    except OSError:
        head = b""
    if head.startswith(b"ref: refs/heads/"):
        branch = head[len(b"ref: refs/heads/"):].strip()
        remote = db.config(f"branch.{branch.decode('utf-8', 'surrogateescape')}", "remote")
        if remote:
            return remote
    return "origin"


def use_git_cli() -> bool:
    choice = os.environ.get("GITEXP_TRANSPORT", "").lower()
    if choice == "dulwich":
        return False
    installed = find_program("git") is not None
    if choice == "git" and not installed:
        raise GitexpError("GITEXP_TRANSPORT=git but no git command is installed")
    return installed


# -- fetch ----------------------------------------------------------------------------
def fetch_shared(db: GitDB, remote: Remote) -> Fetched:
    """Bring the remote's run refs and experiment records into the tracking namespace (stale ones pruned).

    One listing of the remote names its runs, records and registry tags; objects are
    fetched only when a tracking ref is to move. Local refs are never touched; on any
    failure nothing local changes except objects.
    """
    before = remote.tracking_refs(db)
    if use_git_cli():
        advertised = _git_fetch(db, remote, before)
    else:
        advertised = _dulwich_fetch(db, remote, before)
    shared = {remote.tracking_ref(r): sha for r, sha in advertised.items() if r.startswith(SHARED)}
    after = before if shared == before else remote.tracking_refs(db)
    return Fetched(advertised, before, after)


def _git_fetch(db: GitDB, remote: Remote, tracking: dict[str, str]) -> dict[str, str]:
    """List the remote; fetch the tips that moved by id, then set the tracking refs to the listing.

    A fetch by id writes no ref, so the tracking refs go into packed-refs in one write
    (`_set_plain`), where git's glob fetch makes a loose file each (200 runs: 0.1 s of
    kernel time here). A server that serves only advertised tips, or a locked ref, gets
    the glob fetch: git's own expansion, `--prune` dropping the tracking refs of runs
    deleted there (never a local ref).
    """
    out = _git(db, remote, ["ls-remote", "--refs", remote.name, *(f + "*" for f in LISTED)], what="list")
    advertised = _parse_ls_remote(db, out, LISTED)
    wanted = {remote.tracking_ref(r): s for r, s in advertised.items() if r.startswith(SHARED)}
    if wanted == tracking:
        return advertised
    moves = {ref: sha for ref, sha in wanted.items() if tracking.get(ref) != sha}
    drops = {ref: sha for ref, sha in tracking.items() if ref not in wanted}
    new_ids = sorted(set(moves.values()) - set(tracking.values()))
    if not (_fetch_ids(db, remote, new_ids) and _set_plain(db, moves, drops, f"fetch {remote.name}")):
        specs = [f"+{family}*:{remote.tracking_ref(family)}*" for family in SHARED]
        _git(db, remote, ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--prune", "--no-auto-gc",
                          remote.name, *specs], what="fetch from")
    return advertised


def _fetch_ids(db: GitDB, remote: Remote, ids: list[str]) -> bool:
    """Bring the objects of commits `ids` (the remote's tips) without writing a ref; False if that failed."""
    if not ids:
        return True
    proc = _run_git(db, ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--no-auto-gc", "--stdin",
                         remote.name], stdin="".join(f"{sha}\n" for sha in ids))
    return proc.returncode == 0


def _parse_ls_remote(db: GitDB, out: str, prefixes: tuple[str, ...]) -> dict[str, str]:
    """{ref: sha} of `git ls-remote` lines under `prefixes` (object ids of this repository's length)."""
    refs = {}
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        if ref.startswith(prefixes) and len(sha) == db.hex_length:
            refs[ref] = sha
    return refs


def _dulwich_fetch(db: GitDB, remote: Remote, tracking: dict[str, str]) -> dict[str, str]:
    client, path = _client(db, remote)
    found: dict[str, str] = {}
    families = tuple(f.encode() for f in LISTED)

    def wants(refs: dict, depth: int | None = None, **_: object) -> list[bytes]:
        for ref, sha in refs.items():
            if ref.startswith(families) and not ref.endswith(b"^{}"):
                found[ref.decode()] = sha.decode()
        shared = {sha for ref, sha in found.items() if ref.startswith(SHARED)}
        return [s.encode() for s in shared if not db.has_object(s)]

    try:
        client.fetch(path.encode() if isinstance(path, str) else path, db.repo, determine_wants=wants,
                     ref_prefix=list(families))
    except Exception as exc:  # dulwich raises many kinds: map every one to one line
        raise _transport_error(remote, str(exc) or type(exc).__name__) from None
    _write_tracking(db, remote, {r: sha for r, sha in found.items() if r.startswith(SHARED)}, tracking)
    return found


def _write_tracking(db: GitDB, remote: Remote, found: dict[str, str], current: dict[str, str]) -> None:
    """Mirror `found` into the tracking namespace (written only by fetch: a plain set)."""
    wanted = {remote.tracking_ref(r): s for r, s in found.items()}
    for ref, sha in wanted.items():
        if current.get(ref) != sha:
            db.set_ref(ref, current.get(ref), sha, f"fetch {remote.name}")
    for ref, sha in current.items():
        if ref not in wanted:
            db.delete_ref(ref, sha, f"fetch {remote.name}: pruned")


def fetch_objects(db: GitDB, remote: Remote, refs: dict[str, str]) -> None:
    """Bring the objects of the remote's `refs` ({ref: sha}) without writing any local ref.

    The caller creates its refs itself (create-if-absent), after checking each object arrived.
    """
    wanted = {ref: sha for ref, sha in refs.items() if not db.has_object(sha)}
    if not wanted:
        return
    if use_git_cli():
        names = sorted(wanted)
        for start in range(0, len(names), CHUNK_REFS):
            _git(db, remote, ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--no-auto-gc",
                              remote.name, *names[start:start + CHUNK_REFS]], what="fetch from")
        return
    client, path = _client(db, remote)
    shas = {sha.encode() for sha in wanted.values()}

    def wants(advertised: dict, depth: int | None = None, **_: object) -> list[bytes]:
        return [sha for sha in shas if sha in set(advertised.values())]

    try:
        client.fetch(path.encode() if isinstance(path, str) else path, db.repo, determine_wants=wants)
    except Exception as exc:
        raise _transport_error(remote, str(exc) or type(exc).__name__) from None


# -- push -----------------------------------------------------------------------------
def push_refs(db: GitDB, remote: Remote, updates: list[RefUpdate],
              tracking: dict[str, str] | None = None) -> PushOutcome:
    """Apply `updates` on the remote without force; each ref succeeds or is rejected alone.

    The tracking refs of the runs and records the remote took are moved to what it
    now holds, as git does after a push (`outcome.tracking`). `tracking`: their
    values now, when the caller knows them (a fetch just left them so); else read.
    """
    tracking = remote.tracking_refs(db) if tracking is None else tracking
    if not updates:
        return PushOutcome(tracking=dict(tracking))
    if not use_git_cli():
        outcome = _dulwich_push(db, remote, updates)
        _track(db, remote, updates, outcome, tracking, _Staging())
        return outcome
    staging = _stage(db, remote, updates, tracking)
    try:
        outcome = _git_push_all(db, remote, updates, staging)
    except GitexpError:
        update_refs(db, [(ref, None, sha) for ref, sha in staging.staged().items()], f"push {remote.name}: failed")
        raise
    _track(db, remote, updates, outcome, tracking, staging)
    return outcome


def _git_push_all(db: GitDB, remote: Remote, updates: list[RefUpdate], staging: _Staging) -> PushOutcome:
    """One `git push` per CHUNK_REFS explicit refspecs; the staged tips go by one glob with the first."""
    explicit = [u for u in updates if u.ref not in staging.tips]
    globs = [f"{staging.root}*:{GITEXP_REFS}*"] if staging.tips else []
    outcome = PushOutcome()
    for start in range(0, max(len(explicit), 1), CHUNK_REFS):
        part = _git_push(db, remote, explicit[start:start + CHUNK_REFS], globs if start == 0 else [])
        outcome.applied += part.applied
        outcome.rejected.update(part.rejected)
    for ref in staging.tips:
        if ref not in outcome.applied and ref not in outcome.rejected:
            outcome.rejected[ref] = "not reported by the remote"
    return outcome


# -- many runs at once: pushed by glob from refs made for this push ----------------------
# `git push` matches each explicit refspec against every ref the remote has and every
# refspec before it, formatting strings for each pair (2-4 µs): 1,000 new runs cost 2 s
# of CPU, and 50 runs sent to a remote holding 10,000 as much. One glob is one pass. So
# past STAGE_PAIRS pairs the tips to send are written as refs that hold exactly them,
# pushed by one glob onto `refs/gitexp/` (`_stage`): into the tracking refs when the
# remote has none yet (a first push, which must write them anyway), else as temporary
# refs under `refs/gitexp/pushing/<host>/<pid>-<token>/`, dropped after the push (and,
# when a push was killed half-way, by the next push on this host). These refs, and the
# tracking refs moved after the push, are written into packed-refs (`_set_plain`): one
# file, where a loose ref each costs a file creation (1,000 of them: half a second of
# kernel time on ext4).
STAGE_PAIRS = 5_000
PUSHING = "refs/gitexp/pushing/"


class _Staging(Slots):
    """The tips one push sends by glob ({remote ref: tip}), staged under `root` (the tracking refs' own, or not)."""

    __slots__ = ("root", "tips", "tracking")

    def __init__(self, root: str = "", tips: dict[str, str] | None = None, tracking: bool = False) -> None:
        self.root, self.tips, self.tracking = root, {} if tips is None else tips, tracking

    def staged(self, refs: Iterable[str] | None = None) -> dict[str, str]:
        """{staged ref: tip} of `refs` (remote refs; None: all)."""
        return {self.root + ref[len(GITEXP_REFS):]: self.tips[ref] for ref in (self.tips if refs is None else refs)}


def _stage(db: GitDB, remote: Remote, updates: list[RefUpdate], tracking: dict[str, str]) -> _Staging:
    """Refs holding the tips of `updates` under `refs/gitexp/`, when a glob pays; else none."""
    _drop_stale_staging(db)
    bulk = {u.ref: u.new for u in updates if u.new and u.ref.startswith(GITEXP_REFS)}
    if len(bulk) * (len(tracking) + len(bulk)) < STAGE_PAIRS:
        return _Staging()
    if tracking:
        staging = _Staging(f"{_host_staging()}{os.getpid()}-{os.urandom(4).hex()}/", bulk)
    else:
        staging = _Staging(remote.tracking_root, bulk, tracking=True)
    staged = staging.staged()
    made = write_packed_refs(db.common_dir, staged) \
        or update_refs(db, [(ref, sha, None) for ref, sha in staged.items()], f"push {remote.name}: staged")
    return staging if made else _Staging()


def _drop_stale_staging(db: GitDB) -> None:
    """Drop the temporary refs of pushes on this host whose process is gone (killed half-way)."""
    host = _host_staging()
    stale = {ref: sha for ref, sha in db.refs_under(host).items()
             if not _alive(ref[len(host):].split("-", 1)[0])}
    if stale:
        update_refs(db, [(ref, None, sha) for ref, sha in stale.items()], "push: stale staging dropped")


def _host_staging() -> str:
    if hasattr(os, "uname"):  # socket's gethostname is this on POSIX; importing socket costs more
        return f"{PUSHING}{os.uname().nodename}/"
    import socket

    return f"{PUSHING}{socket.gethostname()}/"


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        pass
    return True


def _track(db: GitDB, remote: Remote, updates: list[RefUpdate], outcome: PushOutcome, tracking: dict[str, str],
           staging: _Staging) -> None:
    """Move the tracking refs of what the remote took and drop the refs staged for it, in one transaction.

    The tracking refs are copies of the remote, written only by fetch and push: a
    plain set, no compare-and-swap (a concurrent fetch's value is no truer than
    what the remote just took; the next fetch settles both).
    """
    applied = set(outcome.applied)
    moves = {remote.tracking_ref(u.ref): u.new for u in updates
             if u.new and u.ref in applied and u.ref.startswith(SHARED)}
    outcome.tracking = {**tracking, **moves}
    if staging.tracking:  # the staged refs are the tracking refs: already right where the remote took them
        done = staging.staged(applied & staging.tips.keys())
        moves = {ref: sha for ref, sha in moves.items() if ref not in done}
        drops = staging.staged(staging.tips.keys() - applied)
    else:
        drops = staging.staged()
    if not _git_installed():
        update_refs(db, [(ref, sha, tracking.get(ref)) for ref, sha in moves.items()], f"push {remote.name}")
        return
    if not _set_plain(db, moves, drops, f"push {remote.name}"):  # a ref locked meanwhile
        update_refs(db, [(ref, None, sha) for ref, sha in drops.items()], f"push {remote.name}: staging dropped")
        outcome.tracking = remote.tracking_refs(db)


def _set_plain(db: GitDB, moves: Mapping[str, str], drops: Mapping[str, str], message: str) -> bool:
    """Set `moves` and delete `drops` ({ref: its value}), refs only gitexp writes (tracking copies, a
    push's own): packed-refs in one write, else one `update-ref` transaction; False if neither could."""
    if write_packed_refs(db.common_dir, {**moves, **dict.fromkeys(drops)}):
        return True
    lines = "".join(f"update {ref} {sha}\n" for ref, sha in moves.items()) \
        + "".join(f"delete {ref} {sha}\n" for ref, sha in drops.items())
    return not lines or _ref_transaction(db, lines, message)


def _git_push(db: GitDB, remote: Remote, updates: list[RefUpdate], globs: list[str] | None = None) -> PushOutcome:
    # The user's pre-push hook runs, as for `git push` (git-lfs uploads the files a snapshot points at).
    args = [*EXACT_IDS, *(LOCAL_PACKING if remote.is_local else ()), "push", "--porcelain"]
    specs = list(globs or [])
    for u in updates:
        if u.new is None:  # a delete: only if the remote still has what we expect
            args.append(f"--force-with-lease={u.ref}:{u.expect or ''}")
            specs.append(f":{u.ref}")
        else:  # never forced: git refuses non-fast-forwards; receive-pack checks the old value
            specs.append(f"{u.new}:{u.ref}")
    if not specs:  # `git push REMOTE` alone would push the current branch
        return PushOutcome()
    proc = _run_git(db, [*args, remote.name, *specs])
    outcome = _parse_porcelain(proc.stdout)
    if proc.returncode != 0 and not outcome.applied and not outcome.rejected:
        raise _hook_refusal(db, remote, proc.stderr) or _transport_error(remote, proc.stderr, "push to")
    for u in updates:
        if u.ref not in outcome.applied and u.ref not in outcome.rejected:
            outcome.rejected[u.ref] = "not reported by the remote"
    return outcome


def _hook_refusal(db: GitDB, remote: Remote, stderr: str) -> RemoteRejected | None:
    """The error of a push that the user's pre-push hook stopped (git then reports no ref), else None."""
    if "failed to push some refs" not in stderr or "fatal:" in stderr:
        return None
    hook = _run_git(db, ["rev-parse", "--git-path", "hooks/pre-push"]).stdout.strip()
    if not hook or not os.access(Path(db.root or db.common_dir, hook), os.X_OK):  # core.hooksPath: from the top
        return None
    said = next((ln.strip() for ln in stderr.splitlines() if ln.strip() and "failed to push" not in ln), "")
    return RemoteRejected(f"the pre-push hook refused the push to {remote.name}" + (f": {said[:200]}" if said else "")
                          + "; nothing was sent", hint=f"fix what it reports and push again (the hook: {hook})")


_PORCELAIN = re.compile(r"^(.)\t([^\t]*):([^\t]*)\t(.*)$")


def _parse_porcelain(stdout: str) -> PushOutcome:
    outcome = PushOutcome()
    for line in stdout.splitlines():
        m = _PORCELAIN.match(line)
        if not m:
            continue
        flag, _src, dst, summary = m.groups()
        if flag == "!":
            outcome.rejected[dst] = _reason(summary)
        else:
            outcome.applied.append(dst)
    return outcome


def _reason(summary: str) -> str:
    s = summary.lower()
    if "non-fast-forward" in s or "fetch first" in s or "stale info" in s:
        return "changed on the remote since (diverged)"
    if "already exists" in s or "failed to lock" in s or "cannot lock" in s:
        return "changed on the remote while pushing (a concurrent push)"
    return summary.strip("[] ")


def _dulwich_push(db: GitDB, remote: Remote, updates: list[RefUpdate]) -> PushOutcome:
    client, path = _client(db, remote)
    outcome = PushOutcome()
    by_ref = {u.ref.encode(): u for u in updates}

    def update_refs(refs: dict) -> dict:
        new = dict(refs)
        for name, u in by_ref.items():
            current = refs.get(name)
            if (current.decode() if current else None) != u.expect:
                outcome.rejected[u.ref] = "changed on the remote since (diverged)"
                continue
            new[name] = u.new.encode() if u.new else ZERO.encode()
        return new

    def pack_data(have: set, want: set, *, ofs_delta: bool = False, progress: object = None) -> tuple:
        return db.repo.generate_pack_data(have, want, progress=None, ofs_delta=ofs_delta)

    try:
        result = client.send_pack(path.encode() if isinstance(path, str) else path, update_refs,
                                  generate_pack_data=pack_data)
    except Exception as exc:
        raise _transport_error(remote, str(exc) or type(exc).__name__) from None
    for name, error in (result.ref_status or {}).items():
        ref = name.decode()
        if ref not in by_ref and name not in by_ref:
            continue
        if error is None:
            outcome.applied.append(ref)
        else:
            outcome.rejected[ref] = _reason(str(error))
    for u in updates:
        if u.ref not in outcome.applied and u.ref not in outcome.rejected:
            outcome.applied.append(u.ref)  # dulwich reports only refs it changed
    return outcome


def _client(db: GitDB, remote: Remote) -> tuple:
    from dulwich.client import get_transport_and_path

    try:
        return get_transport_and_path(remote.url, config=db.repo.get_config_stack())
    except Exception as exc:
        raise _transport_error(remote, str(exc)) from None


# -- the git CLI ------------------------------------------------------------------------
def _run_git(db: GitDB, args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess:
    # No prompts: a missing credential is an error line, never a hung command.
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    return subprocess.run(["git", "--git-dir", str(db.common_dir), *args], capture_output=True, text=True,
                          env=env, input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL)


def _git(db: GitDB, remote: Remote, args: list[str], what: str) -> str:
    proc = _run_git(db, args)
    if proc.returncode != 0:
        raise _transport_error(remote, proc.stderr, what)
    return proc.stdout


def _transport_error(remote: Remote, stderr: str, what: str | None = None) -> RemoteRejected:
    """One line for each way a remote fails, with the command that helps."""
    text = stderr.lower()
    label = remote.name or remote.url
    if "could not read username" in text or "authentication failed" in text or "permission denied" in text \
            or "403" in text or "401" in text:
        return RemoteRejected(f"remote {label} refused the credentials",
                              hint=f"check access with: git ls-remote {label}")
    not_a_repo = ("does not appear to be a git repository", "not a git repository", "notgitrepository",
                  "no git repository was found", "no such file", "repository not found")
    if any(s in text for s in not_a_repo):
        return RemoteRejected(f"remote {label} is not a Git repository (or does not exist)",
                              hint=f"check its URL: git remote get-url {label}")
    if any(s in text for s in ("unable to connect", "connection refused", "could not resolve host",
                               "timed out", "network is unreachable", "errno 111", "connectionrefused")):
        return RemoteRejected(f"cannot reach remote {label}",
                              hint=f"check the network and the URL: git remote get-url {label}")
    first = next((ln.strip() for ln in stderr.splitlines() if ln.strip()), "unknown error")
    return RemoteRejected(f"could not {what or 'talk to'} {label}: {first[:200]}",
                          hint=f"try the same with git: git ls-remote {label}")


def update_refs(db: GitDB, updates: Sequence[tuple[str, str | None, str | None]], message: str) -> bool:
    """Move many refs in one transaction: (ref, new or None to delete, old or None for "must not exist").

    With git installed, one `git update-ref --stdin` (all or nothing; every old
    value is checked under the ref locks, so it is compare-and-swap); without,
    one compare-and-swap per ref. Returns False when any ref had moved (then,
    with git, none was changed).
    """
    if not updates:
        return True
    if not _git_installed():
        from gitexp.errors import ConcurrentUpdate

        try:
            for ref, new, old in updates:
                if new is None:
                    db.delete_ref(ref, old or ZERO, message)
                else:
                    db.set_ref(ref, old, new, message)
        except ConcurrentUpdate:
            return False
        return True
    lines = "".join(f"update {ref} {new} {old or ZERO}\n" if new else f"delete {ref} {old}\n"
                    for ref, new, old in updates)
    return _ref_transaction(db, lines, message)


def _ref_transaction(db: GitDB, lines: str, message: str) -> bool:
    """One `git update-ref --stdin` transaction of `lines`: all applied, or none (False)."""
    proc = subprocess.run(["git", *EXACT_IDS, "--git-dir", str(db.common_dir), "update-ref", "-m",
                           f"gitexp: {message}", "--stdin"], input=lines, capture_output=True, text=True)
    return proc.returncode == 0


def _git_installed() -> bool:
    return find_program("git") is not None and os.environ.get("GITEXP_TRANSPORT", "").lower() != "dulwich"


def git_config(db: GitDB, *args: str) -> subprocess.CompletedProcess:
    """Run `git config` on this repository (remote setup needs multi-valued keys)."""
    if find_program("git") is None:
        raise GitexpError("this command needs the git command", hint="install git")
    return _run_git(db, ["config", *args])
