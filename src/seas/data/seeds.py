"""Seed sampling: a seed is one category plus k example prompts of it."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any, Sequence


def group_by_category(rows: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        groups[r["category"]].append(r["prompt"])
    return dict(groups)


def sample_seeds(
    rows: Sequence[dict[str, Any]], n_seeds: int, k: int, rng: random.Random, id_prefix: str = "s"
) -> list[dict[str, Any]]:
    """Draw ``n_seeds`` seeds: a category uniformly at random, then k distinct examples.

    Categories with fewer than k prompts cannot make a seed and are left out; if none
    has k prompts that is an error rather than a silently smaller k.

    >>> rows = [{"prompt": f"p{i}", "category": "A" if i < 4 else "B"} for i in range(6)]
    >>> [s["category"] for s in sample_seeds(rows, 3, 3, random.Random(0))]
    ['A', 'A', 'A']
    """
    groups = group_by_category(rows)
    usable = sorted(c for c, ps in groups.items() if len(ps) >= k)
    if not usable:
        sizes = ", ".join(f"{c}: {len(p)}" for c, p in sorted(groups.items()))
        raise ValueError(f"no category has k={k} prompts to make a seed ({sizes})")
    seeds = []
    for i in range(n_seeds):
        cat = rng.choice(usable)
        seeds.append({"seed_id": f"{id_prefix}{i:05d}", "category": cat, "examples": rng.sample(groups[cat], k)})
    return seeds


def sft_examples(
    rows: Sequence[dict[str, Any]], k: int, n: int, rng: random.Random
) -> list[dict[str, Any]]:
    """R0 SFT examples: k prompts of a category in, one more of that category out.

    With ``n == 0`` every prompt is a target once (its k examples drawn from the rest
    of its category), so the whole train set is seen.
    """
    groups = group_by_category(rows)
    pool = [(c, p) for c, ps in sorted(groups.items()) if len(ps) > k for p in ps]
    if not pool:
        raise ValueError(f"no category has more than k={k} prompts; cannot build SFT examples")
    targets = pool if n == 0 else [rng.choice(pool) for _ in range(n)]
    out = []
    for cat, target in targets:
        others = [p for p in groups[cat] if p != target]
        out.append({"category": cat, "examples": rng.sample(others, k), "target": target})
    return out
