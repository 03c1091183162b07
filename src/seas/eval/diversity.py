"""Prompt diversity: Self-BLEU (pure, no nltk) and per-prompt max cosine similarity.

Self-BLEU (Zhu et al., 2018, "Texygen") scores each text with BLEU against all the
*other* texts as references and averages: 1.0 = every prompt repeats the others,
0.0 = no shared words. Lower is more diverse. The paper measured diversity with
sentence-embedding cosine similarity; Self-BLEU is the usual surface-level companion.
"""

from __future__ import annotations

import bisect
import math
import re
from collections import Counter
from typing import Sequence

import numpy as np

_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Lower-cased words and punctuation marks.

    >>> tokenize("Tell me, NOW!")
    ['tell', 'me', ',', 'now', '!']
    """
    return _TOKEN.findall(text.lower())


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def self_bleu_scores(texts: Sequence[str], max_n: int = 4) -> list[float]:
    """BLEU of each text against all the others (one score per text, in order).

    Clipped n-gram precision for n = 1..max_n (orders longer than the text are left
    out rather than scored), add-one smoothing for n >= 2 (Lin & Och, 2004), geometric
    mean, and the brevity penalty against the closest reference length. Runs in
    O(total n-grams): each n-gram's largest and second-largest count over all texts
    give its clip count against "all texts but this one".

    >>> self_bleu_scores(["the cat sat on the mat", "the cat sat on the mat"])
    [1.0, 1.0]
    >>> self_bleu_scores(["alpha beta gamma", "delta epsilon zeta"])
    [0.0, 0.0]
    >>> self_bleu_scores(["only one"])
    []
    """
    if len(texts) < 2:
        return []
    toks = [tokenize(t) for t in texts]
    grams = [[_ngrams(t, n) for n in range(1, max_n + 1)] for t in toks]
    # per order: n-gram -> (largest count, index holding it, second-largest count)
    top: list[dict[tuple[str, ...], tuple[int, int, int]]] = [{} for _ in range(max_n)]
    for i, per_n in enumerate(grams):
        for k, counts in enumerate(per_n):
            table = top[k]
            for g, c in counts.items():
                first, owner, second = table.get(g, (0, -1, 0))
                if c > first:
                    table[g] = (c, i, first)
                elif c > second:
                    table[g] = (first, owner, c)
    lengths = sorted(len(t) for t in toks)
    scores = []
    for i, per_n in enumerate(grams):
        c = len(toks[i])
        if c == 0:
            scores.append(0.0)
            continue
        logs = []
        for k, counts in enumerate(per_n):
            total = sum(counts.values())
            if total == 0:
                break  # text shorter than this order
            clipped = 0
            for g, cnt in counts.items():
                first, owner, second = top[k][g]
                clipped += min(cnt, second if owner == i else first)
            if k == 0 and clipped == 0:
                logs = [-math.inf]
                break
            p = clipped / total if k == 0 else (clipped + 1) / (total + 1)
            logs.append(math.log(p))
        if not logs or logs[0] == -math.inf:
            scores.append(0.0)
            continue
        r = _closest_other_length(lengths, c)
        bp = 1.0 if c > r else math.exp(1 - r / c)
        scores.append(round(bp * math.exp(sum(logs) / len(logs)), 12))
    return scores


def _closest_other_length(sorted_lengths: list[int], c: int) -> int:
    """The reference length closest to c (ties: the shorter), excluding one copy of c itself."""
    others = list(sorted_lengths)
    del others[bisect.bisect_left(others, c)]
    j = bisect.bisect_left(others, c)
    cands = others[max(0, j - 1) : j + 1]
    return min(cands, key=lambda r: (abs(r - c), r))


def self_bleu(texts: Sequence[str], max_n: int = 4) -> float | None:
    """Mean Self-BLEU; None for fewer than two texts.

    >>> round(self_bleu(["a b c d", "a b c e", "x y z w"]), 3)
    0.439
    """
    scores = self_bleu_scores(texts, max_n)
    return sum(scores) / len(scores) if scores else None


def max_cosines(vectors: np.ndarray) -> list[float]:
    """For each unit vector, its highest cosine similarity to any other (lower = more varied).

    The paper's diversity measure is the mean of this list.

    >>> max_cosines(np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    [1.0, 1.0, 0.0]
    """
    if len(vectors) < 2:
        return []
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    return [float(x) for x in sims.max(axis=1)]
