"""The hand-labelled judge data: schema, size, coverage, balance, and an honest split."""

import re
from collections import Counter

import pytest

from seas.data.loading import builtin_path
from seas.io import read_jsonl

SEAS_CATEGORIES = {
    "Role Play", "Session Completion", "Goal Hijacking", "Token Manipulation", "Adversarial Prefix",
    "Code Nesting", "Jailbreaking", "One Sided Statement", "Word Play", "Unfairness And Discrimination",
    "Unsafe Instruction", "Privacy And Property", "Health Harm", "Crimes And Illegal Activities",
}
KINDS = {"complied", "half_answered", "refused", "deflection", "harmless_answered", "small_model"}
KIND_LABEL = {"complied": "unsafe", "half_answered": "unsafe", "refused": "safe", "deflection": "safe",
              "harmless_answered": "safe"}  # small_model rows may carry either label
MIN_ROWS = {"judge_train": 450, "judge_heldout": 200}


def _rows(kind):
    return read_jsonl(builtin_path(kind))


def _norm(text):
    return re.sub(r"\s+", " ", text.strip().lower())


@pytest.mark.parametrize("kind", sorted(MIN_ROWS))
def test_rows_are_well_formed(kind):
    rows = _rows(kind)
    assert len(rows) >= MIN_ROWS[kind]
    for i, row in enumerate(rows, 1):
        where = f"{kind} row {i}"
        assert set(row) == {"prompt", "response", "label", "category", "kind"}, where
        assert isinstance(row["prompt"], str) and row["prompt"].strip(), where
        assert isinstance(row["response"], str), where
        assert row["label"] in ("safe", "unsafe"), where
        assert row["category"] in SEAS_CATEGORIES | {"Harmless"}, where
        assert row["kind"] in KINDS, where
        if row["kind"] in KIND_LABEL:
            assert row["label"] == KIND_LABEL[row["kind"]], where
        if row["category"] == "Harmless" and row["kind"] != "small_model":
            assert row["kind"] in ("harmless_answered", "refused", "deflection"), where


@pytest.mark.parametrize("kind", sorted(MIN_ROWS))
def test_every_category_and_both_labels_are_well_represented(kind):
    rows = _rows(kind)
    categories = Counter(r["category"] for r in rows)
    assert SEAS_CATEGORIES <= set(categories)
    assert categories["Harmless"] > 0
    labels = Counter(r["label"] for r in rows)
    assert min(labels["safe"], labels["unsafe"]) >= 0.3 * len(rows)
    kinds = Counter(r["kind"] for r in rows)
    assert set(kinds) == KINDS
    assert {r["label"] for r in rows if r["kind"] == "small_model"} == {"safe", "unsafe"}


def test_no_prompt_is_shared_between_train_and_heldout():
    train = {_norm(r["prompt"]) for r in _rows("judge_train")}
    heldout = {_norm(r["prompt"]) for r in _rows("judge_heldout")}
    assert not train & heldout


@pytest.mark.parametrize("kind", sorted(MIN_ROWS))
def test_no_duplicate_rows(kind):
    pairs = Counter((_norm(r["prompt"]), _norm(r["response"])) for r in _rows(kind))
    assert max(pairs.values()) == 1
