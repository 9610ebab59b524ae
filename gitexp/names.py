"""Naming rules shared by every layer: experiment slugs, record keys, run ids and run names."""

from __future__ import annotations

import os
import re
import time
from collections import Counter

from gitexp.errors import InvalidName
from gitexp.lazyre import lazy

_SLUG_FIRST = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_SLUG_CHARS = _SLUG_FIRST | frozenset("._-")
# MLflow's rule for param, metric and tag names (`^[/\w.\- :]*$`): Unicode letters and digits,
# '_', '-', '.', '/', ' ' and ':'.
_KEY_CHARS = lazy(r"[\w\-. /:]+\Z")
MAX_EXPERIMENT = 100
MAX_KEY = 250

# Crockford base32, lower case: sorts the same as the numbers it encodes.
_B32 = "0123456789abcdefghjkmnpqrstvwxyz"
ID_LENGTH = 16
SHORT_ID = 8
MIN_PREFIX = 4


def slugify(text: str) -> str:
    """Turn any text into the nearest valid experiment slug (accents dropped: Über -> uber)."""
    import unicodedata

    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._")
    slug = re.sub(r"\.\.+", ".", slug)[:MAX_EXPERIMENT].rstrip("-._")
    while slug.endswith(".lock"):  # a ref component must not end in .lock (nor in '.', after the cut)
        slug = slug[: -len(".lock")].rstrip("-._")
    return slug or "default"


def check_experiment(name: str) -> str:
    """Return `name` if it is a valid experiment slug, else raise InvalidName."""
    if (
        not isinstance(name, str)
        or len(name) > MAX_EXPERIMENT
        or ".." in name
        or name.endswith((".", ".lock"))
        or name[:1] not in _SLUG_FIRST
        or not _SLUG_CHARS.issuperset(name)
    ):
        raise InvalidName(
            f"invalid experiment name {name!r}: use lower-case letters, digits, '.', '_' "
            f"and '-', starting with a letter or digit (at most {MAX_EXPERIMENT} chars)",
            hint=f"try {slugify(str(name))!r}",
        )
    return name


DEFAULT_EXPERIMENT = "default"
MAX_EXPERIMENT_NAME = 500


def experiment_id(slug: str) -> str:
    """The stable MLflow-style id of experiment `slug`: "0" for `default`, else 18 digits.

    A pure function of the slug (the first 8 bytes of its SHA-256), so two clones
    that make the same experiment independently agree on its id without talking,
    and an experiment that only has runs has an id too.
    """
    if slug == DEFAULT_EXPERIMENT:
        return "0"
    import hashlib

    h = int.from_bytes(hashlib.sha256(slug.encode()).digest()[:8], "big")
    return str(10**17 + h % (9 * 10**17))


def check_experiment_name(name: object) -> str:
    """A display name (MLflow's free text): one non-empty line of at most 500 characters."""
    if not isinstance(name, str) or not name.strip() or "\n" in name or "\r" in name \
            or len(name) > MAX_EXPERIMENT_NAME:
        raise InvalidName(f"invalid experiment name {name!r:.60}: use one non-empty line of text "
                          f"(at most {MAX_EXPERIMENT_NAME} characters)")
    return name.strip()


def check_key(key: str, kind: str = "key") -> str:
    """Validate a param, metric, tag or artifact key; return it unchanged."""
    problem = key_problem(key, kind)
    if problem:
        raise InvalidName(
            f"invalid {kind} {key!r}: {problem}",
            hint="keys use letters, digits, '_', '-', '.', '/', ':' and spaces, e.g. 'train/loss'",
        )
    return key


def key_problem(key: object, kind: str = "key") -> str | None:
    """Why `key` is not a valid key (None if it is)."""
    problem = _shape_problem(key)
    if problem or not isinstance(key, str):
        return problem
    segments = key.split("/")
    if any(_is_git_name(seg) for seg in segments):
        return "has a '.git' or '.gitmodules' path segment, which git refuses in a tree"
    if kind == "metric key" and any(seg.endswith(".tsv") for seg in segments[:-1]):
        # metric `a` is stored as metrics/a.tsv: a folder `a.tsv/` would clash with it
        return "a folder segment (before a '/') must not end in '.tsv'"
    return None


def _is_git_name(segment: str) -> bool:
    """As git's verify_path: `.git` in any case, also with the trailing dots or spaces
    Windows drops, and `.gitmodules` (a tree entry git treats specially)."""
    name = segment.rstrip(". ").lower()
    return name in (".git", ".gitmodules") or name in ("git~1", "gitmod~1")


def _shape_problem(key: object) -> str | None:
    if not isinstance(key, str):
        return f"must be a string, not {type(key).__name__}"
    if not key:
        return "must not be empty"
    if len(key) > MAX_KEY:
        return f"longer than {MAX_KEY} characters"
    if not _KEY_CHARS.match(key):
        bad = next(c for c in key if not _KEY_CHARS.match(c))
        return f"character {bad!r} is not allowed"
    if key.startswith("/"):
        return "must not start with '/'"
    if any(seg in ("", ".", "..") for seg in key.split("/")):
        return "has an empty, '.' or '..' path segment"
    if any(seg != seg.strip() for seg in key.split("/")):
        return "a path segment starts or ends with a space"
    return None


def new_run_id(now_ms: int | None = None) -> str:
    """A 16-char id: 9 chars of millisecond time then 7 random chars (35 bits).

    Ids sort by creation time, need no coordination between machines, and the
    first 8 characters already tell apart runs started more than 32 ms apart.
    """
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    head = _encode(ms, 9)
    tail = _encode(int.from_bytes(os.urandom(5), "big") >> 5, 7)  # 35 random bits (`secrets` costs imports)
    return head + tail


def _encode(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rem = divmod(number, 32)
        chars.append(_B32[rem])
    return "".join(reversed(chars))


def is_run_id(text: str) -> bool:
    """True if `text` has the shape of a full run id."""
    return isinstance(text, str) and len(text) == ID_LENGTH and all(c in _B32 for c in text)


SHA256_HEX = lazy(r"[0-9a-f]{64}")  # a side-store object name


def could_be_id_prefix(text: str) -> bool:
    """True if `text` may abbreviate a run id (at least MIN_PREFIX id characters)."""
    return MIN_PREFIX <= len(text) <= ID_LENGTH and all(c in _B32 for c in text)


_ADJECTIVES = (
    "able agile amber ample bold brave brisk bright calm clever cosmic crisp curious "
    "daring dapper deft eager early easy epic fair fancy fast fierce fluffy fond frank "
    "free fresh gentle giddy glad golden grand happy hardy hasty honest humble icy jolly "
    "keen kind lively loyal lucid lucky merry mighty misty modest nimble noble odd olive "
    "plucky polite proud quick quiet rapid rare ready regal rosy royal rustic shiny silent "
    "silver sleek smart snowy solid sonic spicy steady stellar stormy sunny super swift "
    "tidy tough tranquil upbeat vivid warm wild wise witty young zany zesty"
).split()
_NOUNS = (
    "otter badger beaver bison bobcat cheetah cobra condor cougar coyote crane dingo "
    "dolphin eagle falcon ferret finch fox gazelle gecko gibbon heron hippo hyena ibex "
    "iguana impala jaguar koala lemur leopard lion llama lynx magpie marmot mink moose "
    "newt ocelot orca osprey owl panda panther parrot pelican penguin puffin python quail "
    "rabbit raven salmon seal shark sloth sparrow squid stork swan tapir tiger toucan "
    "trout turtle viper walrus weasel whale wolf wombat yak zebra"
).split()


def choose(words: tuple[str, ...] | list[str]) -> str:
    """A word chosen with the OS's randomness, as `secrets.choice` (whose imports a run start skips)."""
    return words[int.from_bytes(os.urandom(8), "big") % len(words)]  # a bias under 1e-16


def new_run_name(taken: set[str] | frozenset[str] = frozenset()) -> str:
    """A human name like `brisk-otter`, not in `taken` (a number is added if needed).

    The animal is one that no name in `taken` has yet while there are such animals
    (then one of the least used), so that a repository's recent runs are told apart
    by their animal alone.
    """
    used = Counter(name.split("-")[1] for name in taken if name.count("-") >= 1)
    fewest = min(used.get(noun, 0) for noun in _NOUNS)
    nouns = [noun for noun in _NOUNS if used.get(noun, 0) == fewest]
    for _ in range(20):
        name = f"{choose(_ADJECTIVES)}-{choose(nouns)}"
        if name not in taken:
            return name
    n = 2
    while f"{name}-{n}" in taken:
        n += 1
    return f"{name}-{n}"


def check_run_name(name: str) -> str:
    """Run names are free text but one line, not empty, and never look like an id."""
    if not isinstance(name, str) or not name.strip() or "\n" in name or len(name) > MAX_KEY:
        raise InvalidName(f"invalid run name {name!r}: use one non-empty line of text")
    name = name.strip()
    if is_run_id(name):
        raise InvalidName(f"invalid run name {name!r}: it looks like a run id")
    return name


def current_user() -> str:
    """The login name, as MLflow records it (getpass.getuser's order, without loading getpass)."""
    for var in ("GITEXP_USER", "LOGNAME", "USER", "LNAME", "USERNAME"):
        user = os.environ.get(var)
        if user:
            return user
    try:
        import pwd

        return pwd.getpwuid(os.getuid())[0]  # the password database
    except Exception:  # no name for this uid (some containers), no pwd module (Windows)
        return "unknown"
