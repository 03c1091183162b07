"""Shared fixtures: a tiny random Llama built locally (no hub), a scripted judge, and a
scripted OpenAI-like HTTP server on loopback."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Sequence

import pytest

from seas.judges import JUDGES, Judgement


def _smollm_tokenizer(dest: Path) -> None:
    """The real SmolLM2 tokenizer (with its chat template), read from the embedded GGUF."""
    from transformers import AutoTokenizer

    from seas.io import cache_dir

    cached = cache_dir() / "models" / "SmolLM2-135M-Instruct"
    if (cached / "tokenizer.json").is_file():
        tok = AutoTokenizer.from_pretrained(cached)
    else:
        from seas.models.loading import embedded_gguf_path

        g = embedded_gguf_path()
        tok = AutoTokenizer.from_pretrained(g.parent, gguf_file=g.name)
    tok.save_pretrained(dest)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A randomly initialised 2-layer Llama with the SmolLM2 tokenizer, saved as safetensors."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    d = tmp_path_factory.mktemp("tiny-llama")
    _smollm_tokenizer(d)
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=49152, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
        bos_token_id=1, eos_token_id=2, pad_token_id=2, tie_word_embeddings=True,
    )
    LlamaForCausalLM(cfg).save_pretrained(d, safe_serialization=True)
    return str(d)


class ScriptedJudge:
    """A test double for control-flow tests: a stable hash of the response decides
    the label, so that every shape of pair (mixed, tied, unknown) occurs."""

    name = "scripted"

    def judge(self, prompts: Sequence[str], responses: Sequence[str]) -> list[Judgement]:
        out = []
        for r in responses:
            h = int(hashlib.sha256(r.encode()).hexdigest(), 16) % 10
            label = "unknown" if h == 0 else ("unsafe" if h % 2 else "safe")
            out.append(Judgement(label=label, score=None, raw=f"hash={h}"))
        return out


if "scripted" not in JUDGES.names():
    JUDGES.register("scripted")(lambda: ScriptedJudge())


@pytest.fixture
def small_seeds(tmp_path: Path) -> str:
    """A seed file with three categories of eight prompts."""
    import json

    p = tmp_path / "seeds.jsonl"
    cats = ["Role Play", "Word Play", "Health Harm"]
    with open(p, "w") as f:
        for c in cats:
            for i in range(8):
                f.write(json.dumps({"prompt": f"{c} example prompt number {i} about topic {i * 7}", "category": c}) + "\n")
    return str(p)


def tiny_config_dict(model: str, seeds: str, **top: object) -> dict:
    """A loop config that runs in seconds on the tiny model."""
    gen = {"max_new_tokens": 8, "batch_size": 8}
    tr = {"epochs": 1, "batch_size": 4, "max_length": 256, "learning_rate": 1e-3}
    cfg = {
        "iterations": 1, "seeds_per_iteration": 4, "examples_per_seed": 3, "shard_size": 2,
        "data": {"seeds": seeds, "seeds_split": "train"},
        "redteam": {"model": {"name_or_path": model}, "prompts_per_seed": 3, "sft": tr, "sft_examples": 8,
                    "dpo": tr, "generation": gen},
        "target": {"model": {"name_or_path": model}, "responses_per_prompt": 3, "dpo": tr, "generation": gen,
                   "general_pairs_ratio": 1.0},
        "judge": {"name": "scripted"},
    }
    cfg.update(top)
    return cfg


class FakeServer:
    """An OpenAI-like server on loopback. ``script`` is a list of replies used in order
    (then ``default``): an int status, or a callable(body) -> (status, json, headers)."""

    def __init__(self, default: Any = 200, honour_n: bool = True, delay: float = 0.0) -> None:
        self.script: list[Any] = []
        self.default, self.honour_n, self.delay = default, honour_n, delay
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.inflight = self.max_inflight = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.requests.append({"path": self.path, "body": body, "headers": dict(self.headers)})
                    step = fake.script.pop(0) if fake.script else fake.default
                    fake.inflight += 1
                    fake.max_inflight = max(fake.max_inflight, fake.inflight)
                try:
                    if fake.delay:
                        time.sleep(fake.delay)
                    status, data, headers = step(body) if callable(step) else fake.reply(step, body)
                    raw = json.dumps(data).encode()
                    self.send_response(status)
                    for k, v in {"Content-Type": "application/json", **headers}.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                finally:
                    with fake.lock:
                        fake.inflight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def reply(self, status: int, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        if status != 200:
            return status, {"error": {"message": f"scripted {status}"}}, {"Retry-After": "0"} if status == 429 else {}
        k = body.get("n", 1) if self.honour_n else 1
        chat = "messages" in body
        last = body["messages"][-1]["content"] if chat else body["prompt"]
        choices = [
            {"index": j, **({"message": {"role": "assistant", "content": f" {last}#{body['seed']}#{j} "}} if chat
                            else {"text": f"{last}#{body['seed']}#{j}"})}
            for j in range(k)
        ]
        return 200, {"object": "chat.completion" if chat else "text_completion", "choices": choices}, {}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake():
    """Start scripted fake servers: ``fake(default=..., honour_n=..., delay=...)``."""
    servers: list[FakeServer] = []

    def make(**kw: Any) -> FakeServer:
        servers.append(FakeServer(**kw))
        return servers[-1]

    yield make
    for s in servers:
        s.close()
