"""Shared fixtures: a tiny random Llama built locally (no hub), and a scripted judge."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from pathlib import Path
from typing import Sequence

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
    """An HTTP server on loopback whose answers a test scripts: ``replies`` is a list
    of (status, JSON body) served in order (the last one repeats); requests are kept."""

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.replies: list[tuple[int, object]] = [(200, {})]
        self.requests: list[dict] = []
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    server.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                    status, reply = server.replies.pop(0) if len(server.replies) > 1 else server.replies[0]
                if callable(reply):
                    reply = reply(body)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_server():
    s = FakeServer()
    yield s
    s.close()
