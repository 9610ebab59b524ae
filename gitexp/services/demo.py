"""`gitexp demo`: a new repository with a real training script, run a few times."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gitexp.errors import GitexpError

TRAIN = '''"""Logistic regression on synthetic data, trained with gradient descent (numpy only)."""
import numpy as np
from ruamel.yaml import YAML

import gitexp

params = YAML(typ="safe").load(open("params.yaml"))
rng = np.random.default_rng(params["seed"])
n, d = 600, 8
true_w = rng.normal(size=d)
X = rng.normal(size=(n, d))
y = (X @ true_w + rng.normal(scale=params["noise"], size=n) > 0).astype(float)
X_train, X_test, y_train, y_test = X[:480], X[480:], y[:480], y[480:]

w = np.zeros(d)
for epoch in range(params["epochs"]):
    p = 1 / (1 + np.exp(-(X_train @ w)))
    grad = X_train.T @ (p - y_train) / len(y_train) + params["l2"] * w
    w -= params["lr"] * grad
    loss = -np.mean(y_train * np.log(p + 1e-12) + (1 - y_train) * np.log(1 - p + 1e-12))
    acc = np.mean(((X_test @ w) > 0) == y_test)
    gitexp.log_metrics({"train/loss": float(loss), "test/accuracy": float(acc)}, step=epoch)

print(f"final test accuracy: {acc:.3f}")
gitexp.log_dict({"weights": w.round(4).tolist()}, "model/weights.json")
gitexp.set_tag("model", "logistic-regression")
'''

PARAMS = """# Training parameters; `gitexp run -p lr=0.5 -- …` overrides them for one run.
lr: 0.1        # learning rate
epochs: 30
l2: 0.001      # weight decay
noise: 0.5     # label noise of the synthetic data
seed: 0
"""

SETTINGS = """# Team settings for gitexp (see docs/concepts.md#settings).
default_experiment: demo
"""

SWEEP = [["-p", "lr=0.05"], ["-p", "lr=0.2"], ["-p", "lr=0.5", "-p", "l2=0.01"], ["-p", "lr=1.0", "-p", "epochs=60"]]


def check_target(path: Path) -> None:
    """Refuse a folder that exists and is not empty: the demo never overwrites."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise GitexpError(f"{path} already exists and is not empty",
                          hint="give another folder: gitexp demo ./my-demo")


def create_demo_repo(path: Path) -> None:
    """Make a fresh repository with train.py and params.yaml, committed."""
    check_target(path)
    from dulwich import porcelain

    path.mkdir(parents=True, exist_ok=True)
    (path / "train.py").write_text(TRAIN)
    (path / "params.yaml").write_text(PARAMS)
    (path / ".gitignore").write_text("__pycache__/\n")
    (path / ".gitexp.yaml").write_text(SETTINGS)
    repo = porcelain.init(str(path))
    porcelain.add(repo, [str(path / n) for n in ("train.py", "params.yaml", ".gitignore", ".gitexp.yaml")])
    ident = b"gitexp demo <demo@gitexp.invalid>"
    porcelain.commit(repo, message=b"Demo: logistic regression on synthetic data", author=ident, committer=ident)
    repo.close()


def run_demo(path: Path) -> int:
    """Create the repo, run train.py once per sweep point through `gitexp run`, list the runs."""
    create_demo_repo(path)
    gitexp = [sys.executable, "-m", "gitexp"]
    for args in SWEEP:
        code = subprocess.call([*gitexp, "run", *args, "--", sys.executable, "train.py"], cwd=path)
        if code != 0:
            raise GitexpError(f"demo run {' '.join(args)} failed with exit code {code}")
    return subprocess.call([*gitexp, "ls"], cwd=path)
