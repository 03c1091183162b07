"""The `openai` and `server` generation backends.

Unit tests run against a scripted fake HTTP server (retries, backoff, 4xx, n fallback,
concurrency). Integration tests start `transformers serve` on loopback on the tiny random
model (offline) and run the attack stage through both backends, including a server that
dies mid-stage: seas retries, fails with a clear message, and a re-run after a restart
finishes with no row lost or duplicated.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import ScriptedJudge, tiny_config_dict

from seas.backends import BackendError, make_generator
from seas.config import GenerationConfig, config_from_dict
from seas.io import read_jsonl

needs_serve = pytest.mark.skipif(
    any(__import__("importlib").util.find_spec(m) is None for m in ("fastapi", "uvicorn", "openai")),
    reason="transformers serve needs fastapi, uvicorn and openai (pip install -e '.[serve]')",
)
SETTINGS = GenerationConfig(temperature=0.7, top_p=0.95, max_new_tokens=5)


def gen(url: str, **kw: Any) -> Any:
    return make_generator("openai", "my-model", dtype="float32", trust_remote_code=False,
                          base_url=url, backoff=0.01, max_backoff=0.05, **kw)


# ---------------------------------------------------------------------------- unit tests


def test_requests_carry_the_settings_and_route_by_prompt_kind(fake, monkeypatch):
    s = fake()
    monkeypatch.setenv("SEAS_TEST_KEY", "sk-test")
    g = gen(s.url, api_key_env="SEAS_TEST_KEY")
    out = g.generate([[{"role": "user", "content": "hello"}], "raw"], 2, SETTINGS, seed=3)
    assert [len(o) for o in out] == [2, 2]
    assert out[0][0].startswith("hello#") and out[0][0] == out[0][0].strip() and out[1][1].startswith("raw#")
    by_path = {r["path"]: r for r in s.requests}
    assert set(by_path) == {"/v1/chat/completions", "/v1/completions"}
    body = by_path["/v1/chat/completions"]["body"]
    assert body["model"] == "my-model" and body["n"] == 2 and body["max_tokens"] == 5
    assert body["temperature"] == 0.7 and body["top_p"] == 0.95 and isinstance(body["seed"], int)
    assert "generation_config" not in body
    assert by_path["/v1/completions"]["headers"]["Authorization"] == "Bearer sk-test"
    assert len(s.requests) == 2 and g.n_supported is True
    # the same call gives the same seeds (a resume asks for the same samples)
    assert g.generate([[{"role": "user", "content": "hello"}], "raw"], 2, SETTINGS, seed=3) == out


def test_fewer_choices_than_n_falls_back_to_single_requests(fake):
    s = fake(honour_n=False)
    g = gen(s.url, max_concurrency=1)
    prompts = [[{"role": "user", "content": f"p{i}"}] for i in range(3)]
    out = g.generate(prompts, 3, SETTINGS, seed=0)
    assert [len(set(o)) for o in out] == [3, 3, 3]  # distinct seeds -> distinct samples
    assert g.n_supported is False
    # each prompt: at most one request with n=3 (1 choice back), the rest single ones
    assert len(s.requests) == 9 and sum("n" in r["body"] for r in s.requests) <= 3
    s.requests.clear()
    g.generate(prompts, 3, SETTINGS, seed=1)  # now known: no request asks for n
    assert len(s.requests) == 9 and not any("n" in r["body"] for r in s.requests)


def test_429_and_5xx_are_retried_with_backoff(fake):
    s = fake()
    s.script = [429, 500, 503]
    g = gen(s.url)
    t = time.time()
    assert g.generate(["x"], 1, SETTINGS, seed=0)[0][0].startswith("x#")
    assert len(s.requests) == 4 and g.stats["retries"] == 3
    assert time.time() - t < 5


def test_other_4xx_fails_at_once_with_the_servers_message(fake):
    s = fake(default=400)
    g = gen(s.url, max_retries=5)
    with pytest.raises(BackendError) as e:
        g.generate(["x", "y"], 1, SETTINGS, seed=0)
    msg = str(e.value)
    assert "HTTP 400" in msg and "scripted 400" in msg and s.url in msg and "failed" in msg
    assert len(s.requests) <= 2  # no retries


def test_exhausted_retries_raise_a_clear_error_and_stop_sending(fake):
    s = fake(default=503)
    g = gen(s.url, max_retries=2, max_concurrency=1)
    with pytest.raises(BackendError) as e:
        g.generate([f"p{i}" for i in range(10)], 1, SETTINGS, seed=0)
    msg = str(e.value)
    assert "gave up after 3 attempts" in msg and "HTTP 503" in msg and f"{s.url}/v1" in msg
    assert "1 request(s)" in msg and "were then not sent" in msg and "run again to resume" in msg
    # the first request to give up stops the rest: far fewer than 10 prompts x 3 attempts
    assert len(s.requests) < 30


def test_connection_errors_and_timeouts_are_retried(fake, tmp_path):
    import socket

    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    g = gen(f"http://127.0.0.1:{port}", max_retries=2)
    with pytest.raises(BackendError, match=r"gave up after 3 attempts; last error: ConnectError"):
        g.generate(["x"], 1, SETTINGS, seed=0)
    assert g.stats["requests"] == 3

    slow = fake()
    calls = []

    def first_slow(body: dict) -> Any:
        calls.append(1)
        time.sleep(1.0)
        return slow.reply(200, body)

    slow.script = [first_slow]
    g = gen(slow.url, timeout=0.3, max_retries=2)
    assert g.generate(["y"], 1, SETTINGS, seed=0)[0][0].startswith("y#")
    assert g.stats["retries"] >= 1


def test_concurrency_is_bounded(fake):
    s = fake(delay=0.05)
    g = gen(s.url, max_concurrency=2)
    out = g.generate([f"p{i}" for i in range(8)], 1, SETTINGS, seed=0)
    assert [o[0].split("#")[0] for o in out] == [f"p{i}" for i in range(8)]  # prompt order kept
    assert s.max_inflight == 2


def test_options_extra_body_generation_config_and_errors(fake, monkeypatch):
    s = fake()
    g = gen(s.url, model="served-name", extra_body={"top_p": None, "stop": ["\n"]}, send_generation_config=True)
    g.generate(["x"], 1, GenerationConfig(temperature=0.5, top_p=0.8, max_new_tokens=7), seed=0)
    body = s.requests[-1]["body"]
    assert body["model"] == "served-name" and "top_p" not in body and body["stop"] == ["\n"]
    assert json.loads(body["generation_config"]) == {
        "max_new_tokens": 7, "do_sample": True, "temperature": 0.5, "top_p": 0.8, "top_k": 0}
    monkeypatch.setenv("OPENAI_BASE_URL", s.url)
    assert make_generator("openai", "m").base_url == s.url + "/v1"
    monkeypatch.delenv("OPENAI_BASE_URL")
    with pytest.raises(ValueError, match="OPENAI_BASE_URL"):
        make_generator("openai", "m")
    with pytest.raises(ValueError, match="bad options.*max_concurency"):
        make_generator("openai", "m", base_url=s.url, max_concurency=3)
    with pytest.raises(ValueError, match="unexpected option.*max_concurency"):
        make_generator("server", "m", engine="transformers", max_concurency=3)
    assert g.generate([], 3, SETTINGS, seed=0) == []


def test_old_server_logs_are_pruned(tmp_path):
    from seas.backends.server import _prune_logs

    for i in range(25):
        f = tmp_path / f"transformers-{i}.log"
        f.write_text("x")
        os.utime(f, (1000 + i, 1000 + i))
    (tmp_path / "notes.txt").write_text("kept")
    _prune_logs(tmp_path, keep=20)
    left = sorted(int(p.stem.split("-")[1]) for p in tmp_path.glob("*.log"))
    assert left == list(range(5, 25))  # the newest 20
    assert (tmp_path / "notes.txt").exists()


def test_server_plans_what_to_serve(tiny_model, tmp_path):
    from seas.backends.server import choose_engine, plan, server_command
    from seas.models import write_manifest

    adapter = tmp_path / "ckpt"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"r": 4}))
    write_manifest(adapter, "adapter", tiny_model)
    pointer = tmp_path / "ptr"
    pointer.mkdir()
    write_manifest(pointer, "pointer", str(adapter))
    assert plan(tiny_model, "transformers") == {"path": tiny_model, "lora": None, "merge": False}
    assert plan(str(adapter), "transformers")["merge"] is True
    assert plan(str(pointer), "vllm") == {"path": tiny_model, "lora": str(adapter), "merge": False}
    cmd = server_command("vllm", tiny_model, "127.0.0.1", 9, "bfloat16", lora=str(adapter))
    assert cmd[cmd.index("--max-lora-rank") + 1] == "8" and f"seas-adapter={adapter}" in cmd
    assert choose_engine("transformers") == "transformers"
    with pytest.raises(ValueError):
        choose_engine("tgi")


# ---------------------------------------------------------------------------- transformers serve


def _free_port() -> int:
    from seas.backends.server import free_port

    return free_port()


class Serve:
    """`transformers serve MODEL` on loopback, offline, as a process group we can kill."""

    def __init__(self, model: str, port: int, log: Path) -> None:
        self.model, self.port, self.log = model, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 120) -> "Serve":
        import httpx

        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "transformers.cli.transformers", "serve", self.model,
                 "--host", "127.0.0.1", "--port", str(self.port)],
                stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(self.log.read_text()[-2000:])

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture(scope="module")
def served(tiny_model, tmp_path_factory):
    s = Serve(tiny_model, _free_port(), tmp_path_factory.mktemp("serve") / "server.log").start()
    yield s
    s.kill()


POOL = [{"prompt": f"{c} example prompt number {i} about topic {i * 7}", "category": c}
        for c in ("Role Play", "Word Play", "Health Harm") for i in range(8)]


def _cfg(model: str, backend: str, options: dict[str, Any], **top: Any) -> Any:
    d = tiny_config_dict(model, "builtin", **top)
    for role in ("redteam", "target"):
        d[role]["generation"] = {"max_new_tokens": 6, "batch_size": 8, "backend": backend, "options": options}
    return config_from_dict(d)


def _attack(cfg: Any, folder: Path, red: str, tgt: str) -> list[dict[str, Any]]:
    from seas.stages.attack import attack

    rows, _ = attack(cfg, 1, folder, POOL, red, tgt, lambda: ScriptedJudge())
    return rows


def _check_rows(cfg: Any, folder: Path, rows: list[dict[str, Any]]) -> None:
    prompts = read_jsonl(folder / "prompts.jsonl")
    assert len(prompts) == cfg.seeds_per_iteration * cfg.redteam.prompts_per_seed
    live = [p for p in prompts if p["prompt"]]
    assert len(rows) == len(live) * cfg.target.responses_per_prompt
    assert len({r["response_id"] for r in rows}) == len(rows)
    assert {r["seed_id"] for r in rows} <= {p["seed_id"] for p in prompts}
    assert all(r["label"] in ("safe", "unsafe", "unknown") and isinstance(r["response"], str) for r in rows)
    # attack.jsonl is exactly the judged shard files, in order
    shards = sorted((folder / "parts").glob("judged-*.jsonl"))
    assert [r for p in shards for r in read_jsonl(p)] == rows == read_jsonl(folder / "attack.jsonl")


@needs_serve
def test_attack_stage_through_openai_backend(served, tmp_path):
    cfg = _cfg(served.model, "openai", {"base_url": served.url, "model": served.model, "max_concurrency": 4,
                                         "send_generation_config": True})
    rows = _attack(cfg, tmp_path / "iter_1", served.model, served.model)
    _check_rows(cfg, tmp_path / "iter_1", rows)
    assert len({r["response"] for r in rows}) > 1  # sampled, not one greedy answer everywhere


@needs_serve
def test_attack_stage_through_server_backend_with_a_seas_adapter(tiny_model, tmp_path, monkeypatch):
    """The red team is a seas LoRA checkpoint (merged for transformers serve), the target the
    plain model; each phase starts its own server and stops it when the phase ends."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    import seas.backends.server as server_mod
    from seas.models import write_manifest

    ckpt = tmp_path / "iter_0" / "redteam"
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.5)
    model.save_pretrained(ckpt)
    write_manifest(ckpt, "adapter", tiny_model)

    started: list[Any] = []
    orig = server_mod.ServedGenerator._start

    def record(self: Any, *a: Any, **k: Any) -> None:
        started.append(self)
        orig(self, *a, **k)

    monkeypatch.setattr(server_mod.ServedGenerator, "_start", record)
    cfg = _cfg(tiny_model, "server", {"engine": "transformers", "startup_timeout": 120, "max_concurrency": 4,
                                      "log_file": str(tmp_path / "servers.log")})
    rows = _attack(cfg, tmp_path / "iter_1", str(ckpt), tiny_model)
    _check_rows(cfg, tmp_path / "iter_1", rows)

    red, tgt = started
    assert red.served_path != tiny_model and tgt.served_path == tiny_model and red.model_name == red.served_path
    assert not Path(red.served_path).exists()  # the temporary merge is gone
    for g in started:
        assert g.proc.poll() is not None and g._closed and g.log_file.is_file()
        assert "POST /v1/chat/completions" in g.log_file.read_text()
    assert not server_mod._LIVE


@needs_serve
def test_server_backend_reports_a_server_that_cannot_start(tmp_path):
    bad = tmp_path / "not-a-model"
    bad.mkdir()
    (bad / "config.json").write_text("{}")
    with pytest.raises(BackendError, match=r"exited with code .* before it was ready; its output is in"):
        make_generator("server", str(bad), engine="transformers", startup_timeout=120,
                       log_file=str(tmp_path / "s.log"))
    assert (tmp_path / "s.log").read_text()


@needs_serve
def test_server_killed_mid_stage_then_resumed_loses_and_duplicates_nothing(tiny_model, tmp_path, monkeypatch):
    import seas.stages.attack as attack_mod

    srv = Serve(tiny_model, _free_port(), tmp_path / "server.log").start()
    try:
        cfg = _cfg(tiny_model, "openai",
                   {"base_url": srv.url, "model": tiny_model, "max_retries": 2, "backoff": 0.05, "max_concurrency": 4,
                    "send_generation_config": True},
                   seeds_per_iteration=6, shard_size=1)
        folder = tmp_path / "iter_1"
        real_write = attack_mod.write_jsonl

        def write_then_kill(path: Any, rows: Any) -> None:
            real_write(path, rows)
            if Path(path).name == "responses-00001.jsonl":
                srv.kill()  # mid-stage: red team done, target on its third shard

        monkeypatch.setattr(attack_mod, "write_jsonl", write_then_kill)
        with pytest.raises(BackendError) as e:
            _attack(cfg, folder, tiny_model, tiny_model)
        msg = str(e.value)
        assert srv.url in msg and "gave up after 3 attempts" in msg and "run again to resume" in msg
        assert "ConnectError" in msg or "RemoteProtocolError" in msg or "ReadError" in msg

        parts = folder / "parts"
        before = {p.name: p.read_bytes() for p in parts.glob("*.jsonl")}
        assert sorted(n for n in before if n.startswith("responses")) == ["responses-00000.jsonl",
                                                                           "responses-00001.jsonl"]
        assert len([n for n in before if n.startswith("prompts")]) == 6
        assert not (folder / "attack.jsonl").exists()

        monkeypatch.setattr(attack_mod, "write_jsonl", real_write)
        srv.start()
        rows = _attack(cfg, folder, tiny_model, tiny_model)
        _check_rows(cfg, folder, rows)
        after = {p.name: p.read_bytes() for p in parts.glob("*.jsonl")}
        assert {k: after[k] for k in before} == before  # finished shards were kept, not redone
        assert len([n for n in after if n.startswith("responses")]) == 6
        prompts = read_jsonl(folder / "prompts.jsonl")
        want = {f"{p['prompt_id']}-r{k}" for p in prompts if p["prompt"] for k in range(cfg.target.responses_per_prompt)}
        assert sorted(r["response_id"] for r in rows) == sorted(want)
    finally:
        srv.kill()
