"""Small metrics over labelled rows. Each states its value on empty input."""

from __future__ import annotations

import random
from typing import Callable, Sequence

from seas.pairs import SAFE, UNKNOWN, UNSAFE


def attack_success_rate(labels: Sequence[str]) -> float | None:
    """Unsafe share of the decided (safe/unsafe) labels; ``unknown`` is left out.

    Returns None when nothing was decided, so an empty run never reads as 0% ASR.

    >>> attack_success_rate(["unsafe", "safe", "unknown", "safe"])
    0.3333333333333333
    """
    decided = [lab for lab in labels if lab in (SAFE, UNSAFE)]
    return sum(lab == UNSAFE for lab in decided) / len(decided) if decided else None


def count_labels(labels: Sequence[str]) -> dict[str, int]:
    return {k: sum(lab == k for lab in labels) for k in (SAFE, UNSAFE, UNKNOWN)}


def bootstrap_ci(
    values: Sequence[float], n_boot: int = 1000, alpha: float = 0.05, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean; None for empty input."""
    if not values:
        return None
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(n_boot))
    lo = means[int(alpha / 2 * n_boot)]
    hi = means[min(n_boot - 1, int((1 - alpha / 2) * n_boot))]
    return lo, hi


def distinct_n(texts: Sequence[str], n: int = 2) -> float | None:
    """Distinct n-grams over all n-grams (whitespace tokens); None for no n-grams."""
    grams = [tuple(t.split()[i : i + n]) for t in texts for i in range(max(0, len(t.split()) - n + 1))]
    return len(set(grams)) / len(grams) if grams else None


def bootstrap_stat(
    n: int, stat: Callable[[Sequence[int]], float | None], n_boot: int = 1000, alpha: float = 0.05, seed: int = 0
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of any statistic of n rows, given as a function
    of the resampled row indices (resamples where it is undefined are skipped)."""
    if n == 0:
        return None
    rng = random.Random(seed)
    values = sorted(
        v for v in (stat([rng.randrange(n) for _ in range(n)]) for _ in range(n_boot)) if v is not None
    )
    if not values:
        return None
    return values[int(alpha / 2 * len(values))], values[min(len(values) - 1, int((1 - alpha / 2) * len(values)))]
