"""The loop on a tiny random model: files, rows, training, resume, config guard."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from conftest import tiny_config_dict

from seas.config import ConfigError, config_from_dict
from seas.io import read_jsonl
from seas.loop import run
from seas.models import load_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def one_run(tiny_model, tmp_path_factory):
    d = tmp_path_factory.mktemp("seeds")
    seeds = d / "seeds.jsonl"
    seeds.write_text("".join(
        json.dumps({"prompt": f"{c} example prompt number {i} about topic {i * 7}", "category": c}) + "\n"
        for c in ("Role Play", "Word Play", "Health Harm") for i in range(8)))
    cfg = config_from_dict(tiny_config_dict(tiny_model, str(seeds)))
    out = d / "run"
    metrics = run(cfg, out)
    return cfg, out, metrics, tiny_model


def test_run_writes_the_documented_layout(one_run):
    cfg, out, metrics, _ = one_run
    for name in ("config.yaml", "meta.json", "metrics.json", "iter_0/redteam/seas_model.json",
                 "iter_0/target/seas_model.json", "iter_1/attack.jsonl", "iter_1/redteam_pairs.jsonl",
                 "iter_1/target_pairs.jsonl", "iter_1/redteam/seas_model.json", "iter_1/target/seas_model.json"):
        assert (out / name).exists(), name
    assert list(out.rglob("*.bin")) == [] and list(out.rglob("*.tmp")) == []
    assert list(out.rglob("*.safetensors"))
    meta = json.loads((out / "meta.json").read_text())
    assert meta["seas_version"] and "commit" in meta["git"]


def test_attack_rows_have_every_field_and_the_right_counts(one_run):
    cfg, out, metrics, _ = one_run
    rows = read_jsonl(out / "iter_1" / "attack.jsonl")
    prompts = read_jsonl(out / "iter_1" / "prompts.jsonl")
    live = [p for p in prompts if p["prompt"]]
    assert len(prompts) == cfg.seeds_per_iteration * cfg.redteam.prompts_per_seed
    assert len(rows) == len(live) * cfg.target.responses_per_prompt
    for r in rows:
        for key in ("seed_id", "category", "examples", "prompt", "response", "label", "judge_raw", "prompt_id"):
            assert key in r
        assert r["label"] in ("safe", "unsafe", "unknown") and len(r["examples"]) == 3
    assert len({r["response_id"] for r in rows}) == len(rows)


def test_pairs_follow_the_labels(one_run):
    _, out, _, _ = one_run
    rows = read_jsonl(out / "iter_1" / "attack.jsonl")
    label = {(r["prompt"], r["response"]): r["label"] for r in rows}
    for p in read_jsonl(out / "iter_1" / "target_pairs.jsonl"):
        if p["source"] == "safety":
            assert label[(p["prompt"], p["chosen"])] == "safe"
            assert label[(p["prompt"], p["rejected"])] == "unsafe"
    for p in read_jsonl(out / "iter_1" / "redteam_pairs.jsonl"):
        assert p["chosen_unsafe_ratio"] > p["rejected_unsafe_ratio"]


def test_metrics_json_contract(one_run):
    _, out, metrics, _ = one_run
    m = json.loads((out / "metrics.json").read_text())
    assert m == metrics
    (it,) = m["iterations"]
    assert it["iteration"] == 1 and 0.0 <= it["target_asr"] <= 1.0
    for key in ("seeds", "prompts", "responses", "unknown", "redteam_pairs", "target_pairs", "train", "wall_time_s"):
        assert key in it
    if it["target_pairs"]:
        assert it["train"]["target"]["train_loss"] > 0
    assert {"redteam_generation", "target_generation", "judge"} <= set(it["wall_time_s"])


def test_training_changed_the_weights(one_run):
    _, out, metrics, tiny = one_run
    base = load_model(tiny)
    ids = torch.tensor([[1, 5, 9, 14, 20]])
    with torch.no_grad():
        ref = base(ids).logits
        for role in ("redteam", "target"):
            if json.loads((out / "iter_1" / role / "seas_model.json").read_text())["kind"] == "pointer":
                continue
            assert not torch.allclose(load_model(str(out / "iter_1" / role))(ids).logits, ref, atol=1e-6), role


def test_rerun_does_no_work(one_run, monkeypatch):
    cfg, out, metrics, _ = one_run
    import seas.stages.attack as attack_mod
    import seas.loop as loop_mod

    def boom(*a, **k):
        raise AssertionError("a finished run must not generate or train again")

    monkeypatch.setattr(attack_mod, "LazyGenerator", boom)
    monkeypatch.setattr(loop_mod, "train", boom)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.jsonl")}
    assert run(cfg, out) == metrics
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.jsonl")} == before


def test_changed_config_is_refused_unless_forced(one_run):
    cfg, out, _, tiny = one_run
    changed = config_from_dict({**yaml.safe_load((out / "config.yaml").read_text()), "seed": 99})
    with pytest.raises(ConfigError, match=r"seed: 0 -> 99"):
        run(changed, out)


def _cli(*args, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + str(ROOT / "tests")}
    return subprocess.run([sys.executable, "-c", "import conftest, sys; from seas.cli import main; sys.exit(main())", *args],
                          capture_output=True, text=True, env=env, **kw)


def test_cli_help_and_clear_errors(tmp_path):
    r = _cli("run", "--help")
    assert r.returncode == 0 and "--output-dir" in r.stdout and "example:" in r.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("redteam:\n  prompts_per_sed: 3\n")
    r = _cli("run", "--config", str(bad), "--output-dir", str(tmp_path / "o"))
    assert r.returncode == 2
    assert "redteam.prompts_per_sed: unknown key (did you mean 'prompts_per_seed'?)" in r.stderr
    assert "Traceback" not in r.stderr
    good = tmp_path / "good.yaml"
    good.write_text("iterations: 1\n")
    r = _cli("run", "--config", str(good), "--output-dir", str(tmp_path / "o"), "--set", "target.chosen=refuse")
    assert r.returncode == 2 and "target.chosen: must be one of safe-sample, written-refusal" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "o").exists()


def test_kill_and_resume_loses_and_duplicates_nothing(one_run, tmp_path):
    cfg, out, metrics, tiny = one_run
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text((out / "config.yaml").read_text())
    run_dir = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + str(ROOT / "tests")}
    code = "import conftest, sys; from seas.cli import main; sys.exit(main())"
    args = [sys.executable, "-c", code, "run", "--config", str(cfg_path), "--output-dir", str(run_dir)]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    parts = run_dir / "iter_1" / "parts"
    while time.time() < deadline and not (parts.exists() and list(parts.glob("responses-*.jsonl"))):
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert not (run_dir / "iter_1" / "attack.jsonl").exists(), "killed too late to test a resume"
    r = subprocess.run(args, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    strip = lambda rows: [{k: v for k, v in row.items()} for row in rows]
    assert strip(read_jsonl(run_dir / "iter_1" / "attack.jsonl")) == strip(read_jsonl(out / "iter_1" / "attack.jsonl"))
    got = json.loads((run_dir / "metrics.json").read_text())["iterations"][0]
    want = metrics["iterations"][0]
    for key in ("responses", "labels", "redteam_pairs", "target_pairs", "target_asr"):
        assert got[key] == want[key], key
