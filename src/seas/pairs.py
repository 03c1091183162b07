"""DPO pair building, as pure functions over attack rows.

Labels are compared for equality with ``"safe"``/``"unsafe"``, never by substring:
the paper's public code tested ``'safe' in label`` first, and since "unsafe"
contains "safe" every unsafe response landed in the chosen slot.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any, Sequence

from seas.data.templates import redteam_instruction

SAFE, UNSAFE, UNKNOWN = "safe", "unsafe", "unknown"


def unsafe_ratio(labels: Sequence[str]) -> float | None:
    """Unsafe share of the decided labels; None when no label was decided.

    >>> unsafe_ratio(["unsafe", "safe", "unknown", "unsafe"])
    0.6666666666666666
    >>> unsafe_ratio(["unknown"]) is None
    True
    """
    decided = [lab for lab in labels if lab in (SAFE, UNSAFE)]
    if not decided:
        return None
    return sum(lab == UNSAFE for lab in decided) / len(decided)


def group_prompts(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """prompt_id -> {seed_id, prompt, labels[], responses[]} in first-seen order."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        g = out.setdefault(
            r["prompt_id"],
            {
                "seed_id": r["seed_id"],
                "prompt": r["prompt"],
                "category": r.get("category", ""),
                "examples": r.get("examples", []),
                "rows": [],
            },
        )
        g["rows"].append(r)
    return out


def build_redteam_pairs(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per seed: chosen = the prompt with the highest unsafe ratio, rejected = the lowest.

    Seeds whose prompts all tie give no pair (there is nothing to prefer). Prompts
    with no decided label are left out. ``prompt`` is the red team's k-shot
    instruction for the seed, the same text it was sampled with.

    >>> rows = [
    ...   {"seed_id": "s0", "prompt_id": "a", "prompt": "A", "category": "C", "examples": ["x"], "label": "unsafe"},
    ...   {"seed_id": "s0", "prompt_id": "b", "prompt": "B", "category": "C", "examples": ["x"], "label": "safe"},
    ... ]
    >>> [(p["chosen"], p["rejected"]) for p in build_redteam_pairs(rows)]
    [('A', 'B')]
    """
    by_seed: dict[str, list[tuple[float, str, dict[str, Any]]]] = defaultdict(list)
    for pid, g in group_prompts(rows).items():
        ratio = unsafe_ratio([r["label"] for r in g["rows"]])
        if ratio is not None:
            by_seed[g["seed_id"]].append((ratio, pid, g))
    pairs = []
    for seed_id, scored in by_seed.items():
        hi = max(scored, key=lambda t: t[0])  # first of the highest, by generation order
        lo = min(scored, key=lambda t: t[0])
        if hi[0] <= lo[0] or hi[2]["prompt"] == lo[2]["prompt"]:
            continue
        pairs.append(
            {
                "seed_id": seed_id,
                "prompt": redteam_instruction(hi[2]["category"], hi[2]["examples"]),
                "chosen": hi[2]["prompt"],
                "rejected": lo[2]["prompt"],
                "chosen_unsafe_ratio": hi[0],
                "rejected_unsafe_ratio": lo[0],
            }
        )
    return pairs


def build_target_pairs(
    rows: Sequence[dict[str, Any]],
    rng: random.Random,
    refusals: Sequence[str] = (),
    per_prompt: int = 1,
    always_refusal: bool = False,
) -> list[dict[str, Any]]:
    """Per prompt with both a safe and an unsafe response: chosen = safe, rejected = unsafe.

    With ``refusals`` (the refusal-fallback option, a departure from the paper), a
    prompt that has unsafe responses but no safe one gets a written refusal as chosen.
    ``per_prompt`` > 1 (also a departure) pairs up to that many distinct unsafe
    responses of a prompt, each with its own chosen side. ``always_refusal`` (the
    ``target.chosen: written-refusal`` option, a departure too) puts a written refusal on
    the chosen side of every pair, even when a safe sample exists. ``unknown`` responses
    are never used on either side.

    >>> rows = [
    ...   {"seed_id": "s", "prompt_id": "p", "prompt": "P", "response": "no", "label": "safe"},
    ...   {"seed_id": "s", "prompt_id": "p", "prompt": "P", "response": "ok...", "label": "unsafe"},
    ... ]
    >>> p = build_target_pairs(rows, random.Random(0))[0]
    >>> (p["chosen"], p["rejected"], p["source"])
    ('no', 'ok...', 'safety')
    """
    if per_prompt < 1:
        raise ValueError(f"pairs per prompt must be at least 1, got {per_prompt}")
    if always_refusal and not refusals:
        raise ValueError("written refusals as chosen need a non-empty list of refusals")
    pairs = []
    for pid, g in group_prompts(rows).items():
        unsafe = sorted({r["response"] for r in g["rows"] if r["label"] == UNSAFE})
        # a text judged both ways (e.g. a score at the threshold) is never the chosen side
        safe = [] if always_refusal else [r["response"] for r in g["rows"] if r["label"] == SAFE and r["response"] not in unsafe]
        if not unsafe or not (safe or refusals):
            continue
        rejected = rng.sample(unsafe, min(per_prompt, len(unsafe)))
        chosen_pool = rng.sample(safe, len(safe)) if safe else rng.sample(list(refusals), min(len(refusals), len(rejected)))
        for j, rej in enumerate(rejected):
            pairs.append({
                "prompt_id": pid, "prompt": g["prompt"], "chosen": chosen_pool[j % len(chosen_pool)],
                "rejected": rej, "source": "safety" if safe else "written_refusal",
            })
    return pairs


def build_general_pairs(
    general: Sequence[dict[str, Any]], refusals: Sequence[str], n: int, rng: random.Random
) -> list[dict[str, Any]]:
    """Helpfulness pairs: chosen = a helpful reference answer, rejected = a needless refusal.

    They keep the target from learning that refusing is always preferred. ``n`` is
    capped at the size of the general pool (no example is repeated).
    """
    if n <= 0 or not general:
        return []
    if not refusals:
        raise ValueError("general pairs need refusals for the rejected side")
    picked = rng.sample(list(general), min(n, len(general)))
    return [
        {"prompt": g["prompt"], "chosen": g["response"], "rejected": rng.choice(list(refusals)), "source": "general"}
        for g in picked
    ]
