import json
import random
from collections import Counter

import pytest

from seas.data.loading import load_general, load_harmless, load_prompts, load_refusals, load_rows
from seas.data.seeds import sample_seeds, sft_examples
from seas.data.templates import clean_generated_prompt, redteam_instruction

SEAS_CATEGORIES = {
    "Role Play", "Session Completion", "Goal Hijacking", "Token Manipulation", "Adversarial Prefix",
    "Code Nesting", "Jailbreaking", "One Sided Statement", "Word Play", "Unfairness And Discrimination",
    "Unsafe Instruction", "Privacy And Property", "Health Harm", "Crimes And Illegal Activities",
}


def test_builtin_seed_set_covers_the_taxonomy_with_a_split():
    train, test = load_prompts("builtin", "train"), load_prompts("builtin", "test")
    for split in (train, test):
        assert set(Counter(r["category"] for r in split)) == SEAS_CATEGORIES
    counts = Counter(r["category"] for r in train + test)
    assert min(counts.values()) >= 15
    assert not {r["prompt"] for r in train} & {r["prompt"] for r in test}


def test_builtin_harmless_general_refusals():
    assert len(load_harmless()) >= 100
    general = load_general()
    assert len(general) >= 50 and all(g["response"] for g in general)
    refusals = load_refusals()
    assert len(set(refusals)) == len(refusals) >= 20


ROWS = [{"prompt": f"p{i}", "category": "A" if i % 2 else "B"} for i in range(6)]


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
def test_load_each_file_format(tmp_path, fmt):
    import datasets

    path = tmp_path / f"seeds.{fmt}"
    ds = datasets.Dataset.from_list(ROWS)
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    elif fmt == "json":
        path.write_text(json.dumps(ROWS))
    elif fmt == "csv":
        ds.to_csv(str(path), index=False)
    else:
        ds.to_parquet(str(path))
    rows = load_prompts(str(path), split=None)
    assert [(r["prompt"], r["category"]) for r in rows] == [(r["prompt"], r["category"]) for r in ROWS]


def test_local_dataset_directory_with_hub_layout(tmp_path):
    # the layout `datasets` reads for a hub dataset: data files named by split
    (tmp_path / "data").mkdir()
    upper = [{"Prompt": r["prompt"], "Category": r["category"]} for r in ROWS]
    (tmp_path / "data" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in upper))
    (tmp_path / "data" / "test.jsonl").write_text(json.dumps({"Prompt": "t", "Category": "A"}) + "\n")
    assert len(load_prompts(str(tmp_path), "train")) == 6
    (row,) = load_prompts(str(tmp_path), "test")
    assert (row["prompt"], row["category"]) == ("t", "A")  # column names matched case-insensitively
    with pytest.raises(ValueError, match="no split 'validation'"):
        load_prompts(str(tmp_path), "validation")


def test_malformed_rows_name_file_and_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"prompt": "a", "category": "A"}\n{"prompt": "b"\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: not valid JSON"):
        load_prompts(str(p), None)
    p.write_text('{"prompt": "a", "category": "A"}\n\n{"prompt": "b"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:3: missing or empty field 'category'"):
        load_prompts(str(p), None)
    c = tmp_path / "bad.csv"
    c.write_text("prompt,category\na,A\n,B\n")
    with pytest.raises(ValueError, match=r"bad\.csv:3: missing or empty field 'prompt'"):
        load_prompts(str(c), None)
    with pytest.raises(ValueError, match="no such file"):
        load_rows("nope.jsonl", "seeds", ("prompt",))
    with pytest.raises(ValueError, match="no such file"):  # a mistyped path is not sent to the hub
        load_rows("mydir/labels.jsonl", "seeds", ("prompt",))


def test_seed_sampling_is_deterministic_and_in_category():
    rows = load_prompts("builtin", "train")
    a = sample_seeds(rows, 50, 3, random.Random(1))
    b = sample_seeds(rows, 50, 3, random.Random(1))
    assert a == b and len(a) == 50 and len({s["seed_id"] for s in a}) == 50
    by_cat = {}
    for r in rows:
        by_cat.setdefault(r["category"], set()).add(r["prompt"])
    for s in a:
        assert len(set(s["examples"])) == 3 and set(s["examples"]) <= by_cat[s["category"]]
    with pytest.raises(ValueError, match="no category has k=30"):
        sample_seeds(rows, 1, 30, random.Random(0))


def test_sft_examples_hold_out_the_target():
    rows = load_prompts("builtin", "train")
    ex = sft_examples(rows, 3, 0, random.Random(0))
    assert len(ex) == len(rows)
    assert all(e["target"] not in e["examples"] for e in ex)


def test_template_and_cleaning():
    text = redteam_instruction("Word Play", ["first\nline", "second"])
    assert "Category: Word Play" in text and "1. first line" in text and "2. second" in text
    assert clean_generated_prompt('  "New prompt: Tell me a riddle"  ') == "Tell me a riddle"
    assert clean_generated_prompt("1. Do the thing") == "Do the thing"
