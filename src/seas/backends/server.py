"""seas starts an inference server for a checkpoint and generates through it.

The engine is ``vllm serve`` when CUDA and vLLM are available, else ``transformers
serve`` (``pip install 'seas-llm[serve]'`` brings fastapi, uvicorn and openai, which it
needs). Generation then goes through the ``openai`` backend, with its concurrency and
retries. The server listens on a free loopback port, writes its output to a log file
(named in the log and in every error), and is stopped — its whole process group — on
``close()``, at interpreter exit, and (on Linux) when the seas process dies.

What is served for a model reference:

- a plain model (a directory, a hub id, ``embedded``, a seas ``full`` or ``pointer``
  checkpoint): the model itself;
- a seas LoRA checkpoint on vLLM with a single adapter: the base model with
  ``--enable-lora --lora-modules``;
- otherwise (adapters on ``transformers serve``, or chained adapters): the adapters are
  merged with :func:`seas.models.load_model` and saved to a temporary folder under the
  seas cache, removed on ``close()``.

Options (``generation.options``)::

    engine          auto | vllm | transformers (default auto)
    host, port      where the server listens (default 127.0.0.1, a free port)
    startup_timeout seconds to wait for /health (default 600)
    log_file        server output (default <seas cache>/serve/logs/<engine>-<port>-<pid>.log)
    merge_dir       where to write a merged model (kept); default a temporary folder
    server_args     extra command-line arguments for the server (a list)
    env             extra environment variables for the server (a mapping)
    max_concurrency, timeout, max_retries, backoff, max_backoff, extra_body: as for ``openai``
"""

from __future__ import annotations

import atexit
import gc
import importlib.util
import inspect
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Sequence

from seas.backends import BACKENDS, BackendError, Prompt
from seas.backends.openai_backend import OpenAIGenerator
from seas.config import GenerationConfig

log = logging.getLogger(__name__)

ENGINES = ("auto", "vllm", "transformers")
LORA_NAME = "seas-adapter"
SERVED_NAME = "seas-model"
_LIVE: set["ServedGenerator"] = set()
_LIVE_LOCK = threading.Lock()
_RESERVED = ("base_url", "model", "send_generation_config", "api_key_env")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def choose_engine(engine: str = "auto") -> str:
    """``vllm`` when asked, or on ``auto`` when CUDA and the vllm package are there; else ``transformers``."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine != "auto":
        return engine
    if importlib.util.find_spec("vllm") is None:
        return "transformers"
    try:
        import torch

        return "vllm" if torch.cuda.is_available() else "transformers"
    except Exception:  # noqa: BLE001
        return "transformers"


def serve_requirements(engine: str) -> str | None:
    """What is missing to run ``engine``, or None."""
    if engine == "vllm":
        return None if importlib.util.find_spec("vllm") else "the vllm package (pip install vllm)"
    missing = [m for m in ("fastapi", "uvicorn", "openai", "pydantic") if importlib.util.find_spec(m) is None]
    if missing:
        return f"{', '.join(missing)} for `transformers serve` (pip install 'seas-llm[serve]')"
    return None


def _cache_root() -> Path:
    from seas.io import cache_dir

    return Path(cache_dir()) / "serve"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_stale_merges(root: Path) -> None:
    """Remove merged models left by seas processes that were killed before their close()."""
    if not root.is_dir():
        return
    for d in root.glob("merged-*"):
        try:
            pid = int(d.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(d, ignore_errors=True)


def _prune_logs(folder: Path, keep: int = 20) -> None:
    """Keep the newest ``keep`` server logs: each server start writes one, and nothing else
    would ever delete them."""
    dated = []
    for p in folder.glob("*.log"):
        try:
            dated.append((p.stat().st_mtime, p))
        except OSError:  # removed meanwhile by another seas process
            continue
    for _, old in sorted(dated, reverse=True)[keep:]:
        try:
            old.unlink()
        except OSError:
            pass


def _adapter_rank(adapter: Path) -> int:
    try:
        return int(json.loads((adapter / "adapter_config.json").read_text()).get("r", 16))
    except (OSError, ValueError):
        return 16


def plan(model_ref: str, engine: str) -> dict[str, Any]:
    """What to serve: {"path": base or model, "lora": adapter dir or None, "merge": bool}."""
    from seas.models.loading import _chain, resolve

    root, adapters = _chain(model_ref)
    if not adapters:
        return {"path": resolve(root), "lora": None, "merge": False}
    if engine == "vllm" and len(adapters) == 1:
        return {"path": resolve(root), "lora": str(adapters[0]), "merge": False}
    return {"path": None, "lora": None, "merge": True}


def server_command(
    engine: str,
    path: str,
    host: str,
    port: int,
    dtype: str,
    trust_remote_code: bool = False,
    lora: str | None = None,
    extra: Sequence[str] = (),
) -> list[str]:
    """The command line that starts the server.

    >>> server_command("transformers", "/m", "127.0.0.1", 8000, "float32")[2:]
    ['transformers.cli.transformers', 'serve', '/m', '--host', '127.0.0.1', '--port', '8000', '--dtype', 'float32']
    >>> " ".join(server_command("vllm", "/m", "127.0.0.1", 8000, "bfloat16", lora="/a")[1:])
    'serve /m --host 127.0.0.1 --port 8000 --dtype bfloat16 --served-model-name seas-model \
--enable-lora --lora-modules seas-adapter=/a --max-lora-rank 16'
    """
    common = ["--host", host, "--port", str(port), "--dtype", dtype]
    if engine == "transformers":
        cmd = [sys.executable, "-m", "transformers.cli.transformers", "serve", path, *common]
    elif engine == "vllm":
        exe = Path(sys.executable).with_name("vllm")
        head = [str(exe)] if exe.exists() else [shutil.which("vllm") or "vllm"]
        cmd = [*head, "serve", path, *common, "--served-model-name", SERVED_NAME]
        if lora:
            rank = max(8, 1 << (max(1, _adapter_rank(Path(lora))) - 1).bit_length())
            cmd += ["--enable-lora", "--lora-modules", f"{LORA_NAME}={lora}", "--max-lora-rank", str(rank)]
    else:
        raise ValueError(f"unknown engine {engine!r}")
    if trust_remote_code:
        cmd.append("--trust-remote-code")
    return [*cmd, *extra]


def _set_pdeathsig() -> None:  # runs in the child before exec (Linux): die with the parent
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001
        pass


class ServedGenerator:
    """The ``server`` backend: a server process of our own plus an :class:`OpenAIGenerator`."""

    def __init__(
        self,
        model_ref: str,
        dtype: str = "float32",
        trust_remote_code: bool = False,
        engine: str = "auto",
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout: float = 600.0,
        log_file: str | None = None,
        merge_dir: str | None = None,
        server_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        **client_options: Any,
    ) -> None:
        bad = sorted(set(client_options) & set(_RESERVED))
        if bad:
            raise ValueError(f"the server backend sets {', '.join(bad)} itself; use the openai backend to choose them")
        known = set(inspect.signature(OpenAIGenerator.__init__).parameters) - {"self", "model_ref", *_RESERVED}
        unknown = sorted(set(client_options) - known)
        if unknown:  # checked before anything starts
            raise TypeError(f"unexpected option(s) {', '.join(unknown)}")
        self.model_ref, self.dtype, self.trust_remote_code = model_ref, dtype, trust_remote_code
        self.engine = choose_engine(engine)
        missing = serve_requirements(self.engine)
        if missing:
            raise BackendError(f"the server backend ({self.engine}) needs {missing}")
        self.host = host
        self.port = int(port) or free_port(host)
        self.startup_timeout = float(startup_timeout)
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_fh: Any = None
        self._tmp_merged: Path | None = None
        self._closed = False
        root = _cache_root()
        self.log_file = Path(log_file) if log_file else root / "logs" / f"{self.engine}-{self.port}-{os.getpid()}.log"
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        if not log_file:
            _prune_logs(self.log_file.parent)

        what = plan(model_ref, self.engine)
        if what["merge"]:
            what["path"] = str(self._merge(Path(merge_dir) if merge_dir else None))
        self.served_path, self.lora = str(what["path"]), what["lora"]
        if self.engine == "vllm":
            self.model_name = LORA_NAME if self.lora else SERVED_NAME
        else:
            self.model_name = self.served_path  # transformers serve is pinned to the path it was given
        cmd = server_command(
            self.engine, self.served_path, host, self.port, dtype, trust_remote_code, self.lora, list(server_args)
        )
        self._start(cmd, env or {})
        self.client = OpenAIGenerator(
            model_ref,
            base_url=f"http://{self._url_host()}:{self.port}/v1",
            model=self.model_name,
            api_key_env=None,
            send_generation_config=self.engine == "transformers",
            **client_options,
        )

    # ------------------------------------------------------------------ setup

    def _url_host(self) -> str:
        h = "127.0.0.1" if self.host in ("0.0.0.0", "") else ("[::1]" if self.host == "::" else self.host)
        return f"[{h}]" if ":" in h and not h.startswith("[") else h

    def _merge(self, dest: Path | None) -> Path:
        """Load the checkpoint with its adapters merged and save it as a full model."""
        from seas.models import load_model, load_tokenizer

        root = _cache_root()
        root.mkdir(parents=True, exist_ok=True)
        _clean_stale_merges(root)
        if dest is None:
            dest = Path(tempfile.mkdtemp(prefix=f"merged-{os.getpid()}-", dir=root))
            self._tmp_merged = dest
        log.info("merging %s into a full model under %s for the %s server", self.model_ref, dest, self.engine)
        t = time.time()
        model = load_model(self.model_ref, self.dtype, self.trust_remote_code)
        model.save_pretrained(dest, safe_serialization=True)
        load_tokenizer(self.model_ref, self.trust_remote_code).save_pretrained(dest)
        del model
        gc.collect()
        log.info("merged in %.1fs", time.time() - t)
        return dest

    def _start(self, cmd: list[str], extra_env: dict[str, str]) -> None:
        env = {**os.environ, **{k: str(v) for k, v in extra_env.items()}}
        if os.path.isdir(self.served_path):
            env.setdefault("HF_HUB_OFFLINE", "1")  # a local model needs no hub
        env.setdefault("PYTHONUNBUFFERED", "1")
        self._log_fh = open(self.log_file, "ab")
        self._log_fh.write(f"\n=== seas: {' '.join(cmd)}\n".encode())
        self._log_fh.flush()
        log.info("starting %s server on port %d (log: %s)", self.engine, self.port, self.log_file)
        main_thread = threading.current_thread() is threading.main_thread()
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group, killed as a whole on close
            # PDEATHSIG fires when the *thread* that forked exits, so only from the main thread
            preexec_fn=_set_pdeathsig if (main_thread and sys.platform.startswith("linux")) else None,
        )
        with _LIVE_LOCK:
            _LIVE.add(self)
        try:
            self._wait_ready()
        except BaseException:
            self.close()
            raise

    def _wait_ready(self) -> None:
        import httpx

        base = f"http://{self._url_host()}:{self.port}"
        deadline = time.time() + self.startup_timeout
        delay = 0.2
        last = "no answer yet"
        with httpx.Client(timeout=5.0) as c:
            while True:
                assert self.proc is not None
                code = self.proc.poll()
                if code is not None:
                    raise BackendError(
                        f"the {self.engine} server for {self.model_ref} exited with code {code} before it was "
                        f"ready; its output is in {self.log_file}:\n{self.log_tail()}"
                    )
                for path in ("/health", "/v1/models"):
                    try:
                        r = c.get(base + path)
                    except httpx.HTTPError as e:
                        last = f"{path}: {type(e).__name__}"
                        break
                    if r.status_code != 200:
                        last = f"{path}: HTTP {r.status_code}"
                        break
                else:
                    log.info("%s server ready at %s", self.engine, base)
                    return
                if time.time() > deadline:
                    raise BackendError(
                        f"the {self.engine} server for {self.model_ref} was not ready after "
                        f"{self.startup_timeout:.0f}s ({last}); its output is in {self.log_file}:\n{self.log_tail()}"
                    )
                time.sleep(delay)
                delay = min(1.0, delay * 1.5)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # ------------------------------------------------------------------ Generator protocol

    @property
    def base_url(self) -> str:
        return self.client.base_url

    def generate(
        self, prompts: Sequence[Prompt], n: int, settings: GenerationConfig, seed: int, desc: str = ""
    ) -> list[list[str]]:
        if self._closed:
            raise BackendError("the server backend is closed")
        try:
            return self.client.generate(prompts, n, settings, seed, desc)
        except BackendError as e:
            if self.proc is not None and self.proc.poll() is not None:
                raise BackendError(
                    f"{e}\nThe {self.engine} server (pid {self.proc.pid}) exited with code {self.proc.returncode}; "
                    f"its output is in {self.log_file}:\n{self.log_tail()}"
                ) from None
            raise

    def close(self) -> None:
        """Stop the server's process group (SIGTERM, then SIGKILL after 15 s) and remove a temporary merge."""
        if self._closed:
            return
        self._closed = True
        with _LIVE_LOCK:
            _LIVE.discard(self)
        proc = self.proc
        if proc is not None and proc.poll() is None:
            _killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                _killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
        if proc is not None:
            _killpg(proc.pid, signal.SIGKILL)  # children that outlived their parent
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None
        if self._tmp_merged is not None:
            shutil.rmtree(self._tmp_merged, ignore_errors=True)
            self._tmp_merged = None

    def __enter__(self) -> "ServedGenerator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _killpg(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


@atexit.register
def _stop_all() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for g in live:
        try:
            g.close()
        except Exception:  # noqa: BLE001
            pass


@BACKENDS.register("server")
def _make(model_ref: str, **options: Any) -> ServedGenerator:
    return ServedGenerator(model_ref, **options)
