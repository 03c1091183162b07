import random

import pytest

from seas.pairs import build_general_pairs, build_redteam_pairs, build_target_pairs, unsafe_ratio


def row(seed, pid, prompt, response, label, cat="Role Play"):
    return {"seed_id": seed, "prompt_id": pid, "prompt": prompt, "response": response, "label": label,
            "category": cat, "examples": ["e1", "e2"]}


def test_unsafe_is_never_chosen_even_though_it_contains_safe():
    # the public SEAS code tested `'safe' in label` first; "unsafe" contains "safe"
    rows = [row("s", "p", "P", "harmful answer", "unsafe"), row("s", "p", "P", "I refuse", "safe")]
    for seed in range(20):
        (pair,) = build_target_pairs(rows, random.Random(seed))
        assert pair["chosen"] == "I refuse"
        assert pair["rejected"] == "harmful answer"


def test_target_pairs_need_both_labels_and_skip_unknown():
    rows = [
        row("s", "a", "A", "x", "unsafe"), row("s", "a", "A", "y", "unknown"),  # no safe -> no pair
        row("s", "b", "B", "z", "safe"), row("s", "b", "B", "w", "safe"),       # no unsafe -> no pair
        row("s", "c", "C", "u", "unknown"), row("s", "c", "C", "v", "unknown"),
    ]
    assert build_target_pairs(rows, random.Random(0)) == []


def test_refusal_fallback_only_when_no_safe_response():
    rows = [row("s", "a", "A", "bad", "unsafe"), row("s", "b", "B", "ok", "safe"), row("s", "b", "B", "bad2", "unsafe")]
    pairs = build_target_pairs(rows, random.Random(0), refusals=["No."])
    by_prompt = {p["prompt"]: p for p in pairs}
    assert by_prompt["A"]["chosen"] == "No." and by_prompt["A"]["source"] == "written_refusal"
    assert by_prompt["B"]["chosen"] == "ok" and by_prompt["B"]["source"] == "safety"


def test_several_pairs_per_prompt_use_distinct_unsafe_responses():
    rows = [row("s", "a", "A", f"bad{i}", "unsafe") for i in range(4)] + [row("s", "a", "A", "ok", "safe"),
                                                                           row("s", "a", "A", "bad0", "unsafe")]
    pairs = build_target_pairs(rows, random.Random(0), per_prompt=3)
    assert len(pairs) == 3 and len({p["rejected"] for p in pairs}) == 3
    assert all(p["chosen"] == "ok" and p["rejected"].startswith("bad") for p in pairs)
    only_bad = [row("s", "b", "B", f"bad{i}", "unsafe") for i in range(2)]
    pairs = build_target_pairs(only_bad, random.Random(0), refusals=["No.", "Nope."], per_prompt=5)
    assert len(pairs) == 2 and {p["chosen"] for p in pairs} == {"No.", "Nope."}
    assert build_target_pairs(only_bad, random.Random(0), per_prompt=5) == []  # no safe side, no fallback


def test_a_text_judged_both_ways_is_never_chosen():
    rows = [row("s", "a", "A", "same text", "unsafe"), row("s", "a", "A", "same text", "safe")]
    assert build_target_pairs(rows, random.Random(0)) == []
    pairs = build_target_pairs(rows, random.Random(0), refusals=["No."])
    assert [(p["chosen"], p["rejected"]) for p in pairs] == [("No.", "same text")]


def test_written_refusal_is_chosen_even_when_a_safe_sample_exists():
    rows = [row("s", "a", "A", "vague", "safe"), row("s", "a", "A", "bad", "unsafe"), row("s", "b", "B", "ok", "safe")]
    pairs = build_target_pairs(rows, random.Random(0), refusals=["No."], always_refusal=True)
    assert [(p["prompt"], p["chosen"], p["rejected"], p["source"]) for p in pairs] == [("A", "No.", "bad", "written_refusal")]
    with pytest.raises(ValueError, match="non-empty list of refusals"):
        build_target_pairs(rows, random.Random(0), always_refusal=True)


def test_redteam_pairs_pick_highest_and_lowest_unsafe_ratio():
    rows = [
        row("s0", "a", "A", "r", "unsafe"), row("s0", "a", "A", "r", "unsafe"),
        row("s0", "b", "B", "r", "unsafe"), row("s0", "b", "B", "r", "safe"),
        row("s0", "c", "C", "r", "safe"), row("s0", "c", "C", "r", "safe"),
    ]
    (pair,) = build_redteam_pairs(rows)
    assert (pair["chosen"], pair["rejected"]) == ("A", "C")
    assert pair["chosen_unsafe_ratio"] == 1.0 and pair["rejected_unsafe_ratio"] == 0.0
    assert "Category: Role Play" in pair["prompt"] and "e1" in pair["prompt"]


def test_redteam_ties_give_no_pair_and_unknown_is_ignored():
    tie = [row("s0", "a", "A", "r", "unsafe"), row("s0", "b", "B", "r", "unsafe")]
    assert build_redteam_pairs(tie) == []
    # unknown labels do not count toward the ratio: A = 1/1 unsafe, B = 0/1
    rows = [row("s1", "a", "A", "r", "unsafe"), row("s1", "a", "A", "r", "unknown"),
            row("s1", "b", "B", "r", "safe"), row("s1", "b", "B", "r", "unknown")]
    (pair,) = build_redteam_pairs(rows)
    assert pair["chosen"] == "A"
    only_unknown = [row("s2", "a", "A", "r", "unknown"), row("s2", "b", "B", "r", "safe")]
    assert build_redteam_pairs(only_unknown) == []


def test_unsafe_ratio_exact_labels():
    assert unsafe_ratio(["unsafe", "safe"]) == 0.5
    assert unsafe_ratio(["UNSAFE-ish", "safe"]) == 0.0  # only exact labels count
    assert unsafe_ratio([]) is None


def test_general_pairs_capped_and_use_refusals_as_rejected():
    general = [{"prompt": f"q{i}", "response": f"a{i}"} for i in range(3)]
    pairs = build_general_pairs(general, ["no"], 10, random.Random(0))
    assert len(pairs) == 3
    assert all(p["rejected"] == "no" and p["chosen"].startswith("a") for p in pairs)
    assert build_general_pairs(general, ["no"], 0, random.Random(0)) == []
