"""The run directory: config guard, metadata, and a lock against two runs at once."""

from __future__ import annotations

import fcntl
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import yaml

from seas import __version__
from seas.config import ConfigError, SeasConfig, config_to_dict, dump_config
from seas.io import atomic_write_text, read_json, write_json


class RunLock:
    """Holds an exclusive lock on DIR/.lock; a second ``seas run`` on DIR fails at once."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / ".lock"
        self._f: Any = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "w")
        try:
            fcntl.flock(self._f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._f.close()
            raise RuntimeError(f"another seas process is using {self.path.parent} (lock {self.path})") from None
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._f, fcntl.LOCK_UN)
        self._f.close()


def _flatten(d: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _flatten(v, f"{prefix}{k}.")
    else:
        yield prefix.rstrip("."), d


def config_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    a, b = dict(_flatten(old)), dict(_flatten(new))
    return [f"{k}: {a.get(k, '(unset)')!r} -> {b.get(k, '(unset)')!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def git_revision() -> dict[str, Any]:
    """The seas source's git commit and whether it had uncommitted changes, when known."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True, timeout=5
            ).stdout.strip()
        )
        return {"commit": commit, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def prepare(run_dir: Path, cfg: SeasConfig, force: bool = False) -> None:
    """Write config.yaml and meta.json on a new run; on a resumed one, refuse a changed config."""
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = run_dir / "config.yaml"
    meta_path = run_dir / "meta.json"
    new = config_to_dict(cfg)
    meta: dict[str, Any] = read_json(meta_path) if meta_path.exists() else {}
    if cfg_path.exists():
        old = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) or {}
        # `eval` only sizes `seas evaluate`; changing it (or an older config without it) never changes a run
        diff = [d for d in config_diff(old, new) if not d.startswith("eval.")]
        if diff and not force:
            raise ConfigError(
                f"{run_dir} was started with a different config; differences:\n  "
                + "\n  ".join(diff)
                + "\nUse a new --output-dir, or --force to continue with the new config."
            )
        if diff:
            meta.setdefault("forced_config_changes", []).append({"time": time.time(), "changes": diff})
    atomic_write_text(cfg_path, dump_config(cfg))
    import torch
    import transformers
    import trl

    meta.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    meta.update(
        {
            "seas_version": __version__,
            "git": git_revision(),
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "trl": trl.__version__,
            "host": {"machine": platform.machine(), "cpus": os.cpu_count()},
        }
    )
    write_json(meta_path, meta)
