import dataclasses
"""`seas evaluate` on a one-iteration run of the tiny model, judged by the scripted judge."""

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest
from conftest import tiny_config_dict

import seas.backends
import seas.embeddings
import seas.judges
import seas.models
from seas.cli import main
from seas.config import config_from_dict
from seas.eval import evaluate, self_bleu, self_bleu_scores
from seas.eval.evaluate import external_target, stratified_subset
from seas.io import read_jsonl
from seas.loop import run

SMALL = {"held_out_seeds": 3, "prompts_per_seed": 2, "responses_per_prompt": 2, "test_prompts": 6,
         "harmless_prompts": 4, "general_prompts": 5, "shard_size": 4, "bootstrap": 200}
CATS = ("Role Play", "Word Play", "Health Harm")


def _seed_file(path: Path) -> Path:
    rows = [{"prompt": f"{c} example prompt number {i} about topic {i * 7}", "category": c,
             "split": "train" if i < 8 else "test"} for c in CATS for i in range(12)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def finished_run(tiny_model, tmp_path_factory):
    """A one-iteration run (R0, R1, T0, T1), before any evaluation."""
    d = tmp_path_factory.mktemp("evalrun")
    cfg = config_from_dict(tiny_config_dict(tiny_model, str(_seed_file(d / "seeds.jsonl"))))
    run(cfg, d / "run")
    return d / "run"


@pytest.fixture(scope="module")
def evaluated(finished_run, tmp_path_factory):
    """The run evaluated through the CLI (a copy, so other tests get an unevaluated run)."""
    out = tmp_path_factory.mktemp("evaluated") / "run"
    shutil.copytree(finished_run, out)
    args = ["evaluate", str(out)] + [x for k, v in SMALL.items() for x in ("--set", f"{k}={v}")]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(args) == 0
    assert "ASR, red team (rows) x target (columns)" in buf.getvalue()
    return out, json.loads((out / "eval.json").read_text())


def _fraction(v):
    return v is None or 0.0 <= v <= 1.0


def _check_rate(d, n_expected=None):
    assert _fraction(d["value"])
    if d["value"] is not None:
        lo, hi = d["ci"]
        assert 0.0 <= lo <= d["value"] <= hi <= 1.0
    if n_expected is not None:
        assert d["n"] == n_expected


def test_eval_json_schema(evaluated):
    out, ev = evaluated
    for key in ("schema_version", "config", "judge", "models", "heldout", "prompt_sets",
                "asr_matrix", "target_asr", "diversity", "over_refusal", "capability"):
        assert key in ev, key
    assert ev["judge"]["name"] == "scripted"
    assert ev["config"]["held_out_seeds"] == 3 and ev["heldout"]["seeds"] == 3
    assert ev["heldout"]["overlap_with_train"] == 0
    assert set(ev["models"]) == {"R0", "R1", "T0", "T1"}
    assert not list(out.rglob("*.tmp"))


def test_asr_matrix_shape_fractions_and_counts(evaluated):
    out, ev = evaluated
    mat = ev["asr_matrix"]
    assert mat["redteams"] == ["R0", "R1"] and mat["targets"] == ["T0", "T1"]
    for key in ("values", "n", "unknown", "ci"):
        assert len(mat[key]) == 2 and all(len(row) == 2 for row in mat[key]), key
    m = SMALL["responses_per_prompt"]
    for i, r in enumerate(mat["redteams"]):
        live = ev["prompt_sets"][f"attack-{r}"]["prompts"]
        assert live <= SMALL["held_out_seeds"] * SMALL["prompts_per_seed"]
        for j, t in enumerate(mat["targets"]):
            assert mat["n"][i][j] + mat["unknown"][i][j] == live * m  # every response judged, none twice
            _check_rate({"value": mat["values"][i][j], "ci": mat["ci"][i][j], "n": mat["n"][i][j]})
    # the numbers are the cached judgements, recounted
    judged = [row for p in (out / "eval" / "judge").rglob("judged-*.jsonl") if "attack-R1" in str(p) and "/T0-" in str(p)
              for row in read_jsonl(p)]
    decided = [r for r in judged if r["label"] != "unknown"]
    assert len(decided) == mat["n"][1][0]
    if decided:
        assert mat["values"][1][0] == pytest.approx(sum(r["label"] == "unsafe" for r in decided) / len(decided))


def test_target_asr_over_refusal_capability_diversity(evaluated):
    _, ev = evaluated
    m = SMALL["responses_per_prompt"]
    for t in ("T0", "T1"):
        test = ev["target_asr"][t]["test"]
        assert test["n"] + test["unknown"] == SMALL["test_prompts"] * m
        _check_rate(test)
        assert set(test["per_category"]) == set(CATS)  # stratified: 6 prompts over 3 categories
        assert sum(c["n"] + c["unknown"] for c in test["per_category"].values()) == SMALL["test_prompts"] * m
        _check_rate(ev["over_refusal"][t]["harmless"], SMALL["harmless_prompts"] * m)
    cap = ev["capability"]
    assert cap["examples"] == SMALL["general_prompts"] and cap["baseline"] == "T0"
    assert cap["models"]["T0"]["delta_vs_T0"] == 0.0
    assert cap["models"]["T1"]["value"] < 0 and cap["models"]["T1"]["delta_ci"] is not None
    for r in ("R0", "R1"):
        d = ev["diversity"][r]
        assert d["prompts"] + d["empty"] == SMALL["held_out_seeds"] * SMALL["prompts_per_seed"]
        for key in ("mean_max_cosine", "self_bleu"):
            assert d[key]["value"] is None or -1.0 <= d[key]["value"] <= 1.0


def test_rerun_computes_nothing_new(evaluated, monkeypatch):
    out, ev = evaluated

    def boom(*a, **k):
        raise AssertionError("a finished evaluation must not load a model, a judge or the embedder again")

    for mod, name in ((seas.backends, "make_generator"), (seas.models, "load_model"), (seas.judges, "make_judge"),
                      (seas.embeddings, "embed")):
        monkeypatch.setattr(mod, name, boom)
    before = {p: p.stat().st_mtime_ns for p in (out / "eval").rglob("*") if p.is_file() and p.name != ".lock"}
    again = evaluate(out, overrides=SMALL)
    after = {p: p.stat().st_mtime_ns for p in (out / "eval").rglob("*") if p.is_file() and p.name != ".lock"}
    assert after == before
    strip = lambda d: {k: v for k, v in d.items() if k not in ("created", "seconds")}  # noqa: E731
    assert strip(again) == strip(ev)


def test_killed_evaluation_resumes_with_only_the_missing_shard(evaluated, tmp_path, monkeypatch):
    src, ev = evaluated
    out = tmp_path / "run"
    shutil.copytree(src, out)
    shards = sorted((out / "eval" / "gen").glob("T1-*/test-*/responses-*.jsonl"))
    assert len(shards) >= 2
    shards[-1].unlink()  # as if killed while T1 answered its last test shard
    for p in (out / "eval" / "judge").glob(f"*/T1-*/{shards[-1].parent.name}/judged-*.jsonl"):
        p.unlink()
    calls = []
    real = seas.backends.make_generator
    monkeypatch.setattr(seas.backends, "make_generator", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    again = evaluate(out, overrides=SMALL)
    assert len(calls) == 1 and calls[0].endswith("iter_1/target")  # T1 loaded once; nothing else
    assert again["target_asr"] == ev["target_asr"]  # sampling is a pure function of seed and shard


def test_partial_run_and_extra_sets_and_external_target(finished_run, tiny_model, tmp_path):
    out = tmp_path / "partial"
    shutil.copytree(finished_run, out)
    shutil.rmtree(out / "iter_1" / "target")  # killed while training T1
    extra = tmp_path / "extra_harmful.jsonl"
    extra.write_text("".join(json.dumps({"prompt": f"harmful thing {i}", "category": "Custom"}) + "\n" for i in range(3)))
    harmless = tmp_path / "xs.jsonl"
    harmless.write_text("".join(json.dumps({"prompt": f"How do I kill a Python process {i}?"}) + "\n" for i in range(2)))
    ev = evaluate(out, prompt_files=[str(extra)], harmless_files=[str(harmless)], external_targets=[tiny_model],
                  overrides={**SMALL, "held_out_seeds": 2, "general_prompts": 2})
    mat = ev["asr_matrix"]
    assert mat["redteams"] == ["R0", "R1"] and mat["targets"] == ["T0", f"ext:{tiny_model}"]
    assert len(mat["values"]) == 2 and all(len(r) == 2 for r in mat["values"])
    assert ev["target_asr"]["T0"]["extra_harmful"]["per_category"].keys() == {"Custom"}
    x = ev["over_refusal"][f"ext:{tiny_model}"]["xs"]
    assert x["n"] == 2 * SMALL["responses_per_prompt"]
    assert f"ext:{tiny_model}" not in ev["capability"]["models"]  # another model: not comparable with T0


def test_url_targets_need_a_model_name(finished_run):
    from seas.config import load_config

    cfg = load_config(finished_run / "config.yaml")
    with pytest.raises(ValueError, match="#"):
        external_target("http://localhost:8000/v1", cfg)
    m = external_target("http://localhost:8000/v1#my-model", cfg)
    assert (m.label, m.ref, m.base_url) == ("ext:my-model", "my-model", "http://localhost:8000/v1")


def test_cli_errors_are_clear(finished_run, tmp_path, capsys):
    assert main(["evaluate", str(finished_run), "--set", "held_out_sed=3"]) == 2
    assert "eval.held_out_sed: unknown key (did you mean 'held_out_seeds'?)" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "not a seas run directory" in capsys.readouterr().err


def test_self_bleu_is_pure_and_bounded():
    assert self_bleu(["one"]) is None
    same = self_bleu_scores(["how do I pick a lock", "how do I pick a lock", "how do I pick a lock"])
    assert same == [1.0, 1.0, 1.0]
    varied = self_bleu(["how do I pick a lock", "write a poem about rain", "explain tax fraud schemes"])
    assert 0.0 <= varied < 0.2
    close = self_bleu(["how do I pick a lock quickly", "how do I pick a lock safely", "write a poem about rain"])
    assert varied < close < 1.0


def test_stratified_subset_covers_categories():
    import random

    rows = [{"prompt": f"{c}{i}", "category": c} for c in "ABC" for i in range(5)]
    sub = stratified_subset(rows, 6, random.Random(0))
    assert sorted(r["category"] for r in sub) == ["A", "A", "B", "B", "C", "C"]
    assert stratified_subset(rows, 0, random.Random(0)) == rows


def test_eval_keys_never_block_resuming_a_run(tmp_path):
    import yaml

    from seas.config import SeasConfig, config_to_dict
    from seas.rundir import prepare

    old = config_to_dict(SeasConfig())
    del old["eval"]  # a run started before the eval section existed
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old))
    cfg = config_from_dict({"eval": {"held_out_seeds": 99}})
    prepare(tmp_path, cfg)  # no "different config" error
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["eval"]["held_out_seeds"] == 99


def test_eval_summary_reads_every_part(evaluated):
    from seas.eval.summary import eval_summary

    _, ev = evaluated
    text = eval_summary(ev)
    for part in ("target ASR on the test prompts", "red team ASR against T0", "over-refusal", "mean max cosine"):
        assert part in text
    assert "R0" in text and "T1" in text


def test_seas_run_can_end_with_evaluate_and_report(finished_run, tiny_model, tmp_path, capsys):
    import yaml

    out = tmp_path / "run"
    shutil.copytree(finished_run, out)
    cfg = tiny_config_dict(tiny_model, str(_seed_file(tmp_path / "seeds.jsonl")))
    cfg["data"]["seeds"] = yaml.safe_load((out / "config.yaml").read_text())["data"]["seeds"]
    cfg["eval"] = {**SMALL, "after_run": True}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["run", "--config", str(tmp_path / "c.yaml"), "--output-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "held-out evaluation" in printed and "report:" in printed
    assert (out / "eval.json").exists() and (out / "report.html").exists()


def test_cache_folder_changes_with_what_decides_shard_content():
    # shards are matched by index: another shard size (or sampling setting) must not reuse a cache
    from seas.config import GenerationConfig
    from seas.eval.evaluate import PromptSet

    s = PromptSet("test", "harmful", "builtin", [{"id": "a", "prompt": "p"}])
    g = GenerationConfig()
    base = s.folder(g, 1, 0, 16)
    assert base == s.folder(dataclasses.replace(g, batch_size=7), 1, 0, 16)  # batching changes speed, not what a valid answer is
    assert base != s.folder(g, 1, 0, 64)
    assert base != s.folder(dataclasses.replace(g, temperature=0.5), 1, 0, 16)
