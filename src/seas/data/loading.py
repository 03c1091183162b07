"""Load prompt sets from the built-in files, local files, or a Hugging Face dataset.

Every row is validated; a bad row is an error that names the source and line, since
a silently skipped row would change the numbers without anyone noticing.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from seas.io import iter_jsonl

BUILTIN_DIR = Path(__file__).parent / "builtin"
BUILTIN_FILES = {
    "seeds": "seeds.jsonl",
    "harmless": "harmless.jsonl",
    "general": "general.jsonl",
    "refusals": "refusals.jsonl",
    "judge_train": "judge_train.jsonl",
    "judge_heldout": "judge_heldout.jsonl",
}
# Column names that other exports use for the same field (case-insensitive).
ALIASES = {
    "prompt": ("prompt", "question", "instruction", "goal", "text"),
    "category": ("category", "type", "attack_type", "risk_type", "label_category"),
    "response": ("response", "answer", "output", "completion"),
    "label": ("label", "human_label", "gold", "gold_label"),
}
FILE_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


def builtin_path(kind: str) -> Path:
    return BUILTIN_DIR / BUILTIN_FILES[kind]


def read_file_rows(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(location, row) for every row of a local file; location is 'file:line'."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return [(f"{path}:{n}", row) for n, row in iter_jsonl(path)]
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
        if isinstance(data, dict) and len(data) == 1 and isinstance(next(iter(data.values())), list):
            data = next(iter(data.values()))  # {"data": [...]}
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a JSON list of objects")
        out = []
        for i, row in enumerate(data):
            if not isinstance(row, dict):
                raise ValueError(f"{path}: item {i}: expected an object, got {type(row).__name__}")
            out.append((f"{path}: item {i}", row))
        return out
    if suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            # header is line 1, so data row i sits on line i + 2
            return [(f"{path}:{i + 2}", dict(row)) for i, row in enumerate(csv.DictReader(f))]
    if suffix == ".parquet":
        import datasets

        ds = datasets.Dataset.from_parquet(str(path))
        return [(f"{path}: row {i}", dict(row)) for i, row in enumerate(ds)]  # type: ignore[arg-type]
    raise ValueError(f"{path}: unsupported file type {suffix!r} (use {', '.join(FILE_SUFFIXES)})")


def _read_dataset(name: str, split: str | None) -> list[tuple[str, dict[str, Any]]]:
    """A local dataset directory (hub layout) or a hub dataset id, through `datasets`."""
    import datasets

    try:
        dd = datasets.load_dataset(name)
    except Exception as e:  # noqa: BLE001 - many failure types (offline, 404, format)
        where = "local directory" if os.path.isdir(name) else "Hugging Face dataset"
        raise ValueError(f"could not load {where} {name!r}: {type(e).__name__}: {e}") from None
    splits = list(dd.keys())
    if split is None:
        chosen = splits
    elif split in dd:
        chosen = [split]
    else:
        raise ValueError(f"{name}: no split {split!r}; it has {', '.join(splits)}")
    out: list[tuple[str, dict[str, Any]]] = []
    for s in chosen:
        out += [(f"{name}[{s}] row {i}", dict(row)) for i, row in enumerate(dd[s])]
    return out


def _field(row: dict[str, Any], name: str) -> Any:
    lower = {str(k).lower(): v for k, v in row.items()}
    for alias in ALIASES.get(name, (name,)):
        if alias in lower:
            return lower[alias]
    return None


def load_rows(
    source: str, kind: str, required: tuple[str, ...], split: str | None = None
) -> list[dict[str, Any]]:
    """Load and validate rows with the ``required`` string fields.

    Args:
        source: 'builtin', a file path, a dataset directory, or a hub dataset id.
        kind: which built-in set 'builtin' means (seeds, harmless, general, refusals).
        required: fields every row must have as non-empty strings.
        split: keep rows of this split (a 'split' column, or a dataset split).
    """
    if source == "builtin":
        raw = read_file_rows(builtin_path(kind))
    elif os.path.isfile(source):
        raw = read_file_rows(Path(source))
    elif source.lower().endswith(FILE_SUFFIXES):
        raise ValueError(f"{kind} source {source!r}: no such file")
    elif os.path.isdir(source) or ("/" in source and not source.startswith((".", "/"))):
        raw = _read_dataset(source, split)
        split = None  # the dataset split already selected the rows
    else:
        raise ValueError(f"{kind} source {source!r}: no such file or directory (and not a hub dataset id)")

    rows = []
    for where, row in raw:
        if split is not None and "split" in row and row["split"] != split:
            continue
        clean = dict(row)
        for name in required:
            value = _field(row, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{where}: missing or empty field {name!r} (row has: {', '.join(map(str, row))})")
            clean[name] = value.strip()
        rows.append(clean)
    if not rows:
        raise ValueError(f"{kind} source {source!r}{f' split {split!r}' if split else ''}: no rows")
    return rows


def load_prompts(source: str = "builtin", split: str | None = "train") -> list[dict[str, Any]]:
    """Seed prompts in the SEAS schema {prompt, category}."""
    return load_rows(source, "seeds", ("prompt", "category"), split)


def load_harmless(source: str = "builtin") -> list[dict[str, Any]]:
    """Harmless prompts that only look sensitive (over-refusal checks)."""
    return load_rows(source, "harmless", ("prompt",))


def load_general(source: str = "builtin") -> list[dict[str, Any]]:
    """General instructions with a helpful reference answer {prompt, response}."""
    return load_rows(source, "general", ("prompt", "response"))


def load_refusals(source: str = "builtin") -> list[str]:
    return [r["response"] for r in load_rows(source, "refusals", ("response",))]


def load_labelled(source: str = "builtin", kind: str = "judge_heldout", label: str = "label") -> list[dict[str, Any]]:
    """(prompt, response, label) rows for fitting or measuring a judge; ``label`` is
    the human label column, 'safe' or 'unsafe' (also accepted: true/1 = unsafe)."""
    rows = load_rows(source, kind, ("prompt",))
    for i, row in enumerate(rows):
        resp = _field(row, "response")
        if not isinstance(resp, str):
            raise ValueError(f"{source} row {i + 1}: missing field 'response' (row has: {', '.join(map(str, row))})")
        row["response"] = resp
        raw = row.get(label) if label != "label" else _field(row, "label")
        row["label"] = _human_label(raw, f"{source} row {i + 1}", label)
    return rows


def _human_label(value: Any, where: str, column: str) -> str:
    if isinstance(value, bool):
        return "unsafe" if value else "safe"
    text = str(value).strip().lower() if value is not None else ""
    if text in ("safe", "unsafe"):
        return text
    if text in ("1", "true", "harmful"):
        return "unsafe"
    if text in ("0", "false", "harmless"):
        return "safe"
    raise ValueError(f"{where}: label column {column!r} must be 'safe' or 'unsafe', got {value!r}")
