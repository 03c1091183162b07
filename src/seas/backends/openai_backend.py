"""Generation through any OpenAI-compatible HTTP endpoint (vLLM, TGI, `transformers serve`, hosted).

Chat prompts (a list of messages) go to ``/v1/chat/completions``, raw strings to
``/v1/completions``. Requests run concurrently (``max_concurrency`` at a time, asyncio +
httpx); each asks for ``n`` samples and, when the server returns fewer choices (many
servers ignore ``n``), the missing samples are asked for one request each — the server
is remembered as not supporting ``n`` for the rest of the run.

Timeouts, dropped connections, 429 and 5xx are retried ``max_retries`` times with
exponential backoff and jitter (``Retry-After`` is honoured); any other 4xx fails at once
with the server's message. When a request fails for good, no new request is sent and
``generate`` raises :class:`~seas.backends.BackendError` naming the URL, the last error
and how many requests failed. The attack stage has then written every finished shard,
so fixing the server and running again resumes where it stopped.

Options (``generation.options`` in the config)::

    base_url      server URL, e.g. http://127.0.0.1:8000/v1 (default: $OPENAI_BASE_URL;
                  "/v1" is added when the URL has no path)
    model         model name sent to the server (default: the model reference)
    api_key_env   environment variable holding the API key (default OPENAI_API_KEY;
                  a local server needs none, and the key is never written to the run)
    max_concurrency, timeout, max_retries, backoff, max_backoff, extra_body,
    send_generation_config   (see OpenAIGenerator)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import random
import time
from typing import Any, Sequence
from urllib.parse import urlsplit

from tqdm.auto import tqdm

from seas.backends import BACKENDS, BackendError, Prompt
from seas.config import GenerationConfig

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
_SEED_MOD = 2**31 - 1


def normalize_base_url(url: str) -> str:
    """The API root: ``/v1`` is added when the URL has no path.

    >>> normalize_base_url("http://127.0.0.1:8000")
    'http://127.0.0.1:8000/v1'
    >>> normalize_base_url("https://api.example.com/v1/")
    'https://api.example.com/v1'
    >>> normalize_base_url("http://host/proxy/openai/v1")
    'http://host/proxy/openai/v1'
    """
    url = url.strip().rstrip("/")
    if not urlsplit(url).scheme:
        raise ValueError(f"base_url must start with http:// or https://, got {url!r}")
    return url if urlsplit(url).path not in ("", "/") else url + "/v1"


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: ``base * 2**attempt`` capped at ``cap``, times 0.5..1.5.

    >>> all(0.25 <= backoff_delay(0, 0.5, 30) <= 0.75 for _ in range(100))
    True
    >>> backoff_delay(20, 0.5, 30) <= 45
    True
    """
    r = (rng or random).random()
    return min(cap, base * 2**attempt) * (0.5 + r)


def request_seed(seed: int, prompt_index: int, sample_index: int) -> int:
    """A per-request seed: a pure function of the call's seed and the position, so that a
    server that honours seeds gives the same samples after a resume."""
    return (seed * 1_000_003 + prompt_index * 1_009 + sample_index) % _SEED_MOD


class _Fatal(Exception):
    """A request that failed for good (non-retryable status or retries exhausted)."""


class _Skipped(Exception):
    """A request not sent (or not retried) because another one already failed for good."""


def _run(coro: Any) -> Any:
    """asyncio.run, also from a thread that already runs an event loop (e.g. Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        return ex.submit(asyncio.run, coro).result()


class OpenAIGenerator:
    """The ``openai`` backend.

    Args:
        model_ref: the model reference from the config; the default model name.
        base_url: API root (default ``$OPENAI_BASE_URL``).
        model: model name sent in each request (default: ``model_ref``).
        api_key_env: name of the environment variable with the API key (optional).
        max_concurrency: requests in flight at once.
        timeout: seconds for one request (connecting: at most 10 s).
        max_retries: retries of a request after a timeout, connection error, 429 or 5xx.
        backoff: first retry delay in seconds; doubles each retry, with jitter.
        max_backoff: cap on one retry delay (also on a server's ``Retry-After``).
        extra_body: fields merged into every request body (a ``null`` value removes a field).
        send_generation_config: add ``transformers serve``'s ``generation_config`` field
            (do_sample, temperature, top_p, top_k=0, max_new_tokens): that server samples
            only when asked through it, or when the model's own generation config says so.
        dtype, trust_remote_code: given to every backend by the attack stage; unused here.
    """

    def __init__(
        self,
        model_ref: str,
        base_url: str | None = None,
        model: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        max_concurrency: int = 8,
        timeout: float = 300.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        extra_body: dict[str, Any] | None = None,
        send_generation_config: bool = False,
        dtype: str = "float32",
        trust_remote_code: bool = False,
    ) -> None:
        url = base_url or os.environ.get("OPENAI_BASE_URL")
        if not url:
            raise ValueError(
                "the openai backend needs a server URL: set generation.options.base_url "
                "(e.g. http://127.0.0.1:8000/v1) or the environment variable OPENAI_BASE_URL"
            )
        if max_concurrency < 1 or max_retries < 0 or timeout <= 0 or backoff < 0:
            raise ValueError("max_concurrency must be >= 1, max_retries >= 0, timeout > 0 and backoff >= 0")
        self.base_url = normalize_base_url(url)
        self.model = model if model is not None else model_ref
        self.api_key_env = api_key_env
        self.max_concurrency = int(max_concurrency)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff, self.max_backoff = float(backoff), float(max_backoff)
        self.extra_body = dict(extra_body or {})
        self.send_generation_config = send_generation_config
        self.n_supported: bool | None = None  # learnt from the first reply with n > 1
        self.stats = {"requests": 0, "retries": 0}

    # ------------------------------------------------------------------ requests

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _body(self, prompt: Prompt, n: int, settings: GenerationConfig, seed: int) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {"model": self.model} if self.model else {}
        if isinstance(prompt, str):
            url, body["prompt"] = f"{self.base_url}/completions", prompt
        else:
            url, body["messages"] = f"{self.base_url}/chat/completions", list(prompt)
        body.update(
            temperature=settings.temperature, top_p=settings.top_p, max_tokens=settings.max_new_tokens, seed=seed
        )
        if n > 1:
            body["n"] = n
        if self.send_generation_config:
            gc: dict[str, Any] = {"max_new_tokens": settings.max_new_tokens}
            if settings.temperature > 0:
                gc.update(do_sample=True, temperature=settings.temperature, top_p=settings.top_p, top_k=0)
            else:
                gc.update(do_sample=False)
            body["generation_config"] = json.dumps(gc)
        for k, v in self.extra_body.items():
            if v is None:
                body.pop(k, None)
            else:
                body[k] = v
        return url, body

    @staticmethod
    def _texts(url: str, data: Any) -> list[str]:
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list):
            raise _Fatal(f"{url}: the reply has no 'choices' list: {json.dumps(data)[:300]}")
        choices = sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0)
        out = []
        for c in choices:
            if not isinstance(c, dict):
                raise _Fatal(f"{url}: a choice is not an object: {c!r:.200}")
            if "message" in c:
                text = (c.get("message") or {}).get("content")
            else:
                text = c.get("text")
            out.append((text or "").strip())
        return out

    async def _post(self, client: Any, sem: asyncio.Semaphore, abort: asyncio.Event, url: str, body: dict[str, Any]) -> list[str]:
        import httpx

        last = ""
        for attempt in range(self.max_retries + 1):
            if abort.is_set():
                raise _Skipped()
            wait = None
            async with sem:
                if abort.is_set():
                    raise _Skipped()
                self.stats["requests"] += 1
                try:
                    r = await client.post(url, json=body, headers=self._headers())
                except (httpx.TimeoutException, httpx.TransportError) as e:
                    last = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
                else:
                    if r.status_code == 200:
                        try:
                            data = r.json()
                        except ValueError:
                            raise _Fatal(f"{url}: HTTP 200 with a body that is not JSON: {r.text[:300]!r}") from None
                        return self._texts(url, data)
                    msg = _server_message(r)
                    if r.status_code not in RETRY_STATUS:
                        hint = ""
                        if r.status_code in (401, 403):
                            hint = f" (set the API key in ${self.api_key_env}, or api_key_env)"
                        elif r.status_code == 404:
                            hint = " (check base_url, and the model name)"
                        raise _Fatal(f"{url}: HTTP {r.status_code}: {msg}{hint}")
                    last = f"HTTP {r.status_code}: {msg}"
                    wait = _retry_after(r)
            if attempt < self.max_retries:
                self.stats["retries"] += 1
                delay = backoff_delay(attempt, self.backoff, self.max_backoff)
                if wait is not None:
                    delay = max(delay, min(wait, self.max_backoff))
                await asyncio.sleep(delay)
        raise _Fatal(f"{url}: gave up after {self.max_retries + 1} attempts; last error: {last}")

    async def _generate(
        self, prompts: Sequence[Prompt], n: int, settings: GenerationConfig, seed: int, desc: str
    ) -> list[list[str]]:
        import httpx

        sem = asyncio.Semaphore(self.max_concurrency)
        abort = asyncio.Event()
        failures: list[str] = []
        skipped = [0]
        out: list[list[str] | None] = [None] * len(prompts)
        bar = tqdm(total=len(prompts), desc=desc or "generate", unit="prompt", leave=False)
        limits = httpx.Limits(max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency)
        timeout = httpx.Timeout(self.timeout, connect=min(10.0, self.timeout))

        async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:

            async def post(prompt: Prompt, k: int, i: int, j: int) -> list[str]:
                url, body = self._body(prompt, k, settings, request_seed(seed, i, j))
                try:
                    return await self._post(client, sem, abort, url, body)
                except _Skipped:
                    skipped[0] += 1
                    raise
                except _Fatal as e:
                    failures.append(str(e))
                    abort.set()
                    raise

            async def one(i: int, prompt: Prompt) -> None:
                texts: list[str] = []
                if n == 1 or self.n_supported is not False:
                    texts = (await post(prompt, n, i, 0))[:n]
                    if n > 1 and len(texts) < n:
                        self.n_supported = False
                    elif n > 1:
                        self.n_supported = True
                if len(texts) < n:
                    rest = await asyncio.gather(
                        *(post(prompt, 1, i, j) for j in range(len(texts), n)), return_exceptions=True
                    )
                    for r in rest:
                        if isinstance(r, BaseException):
                            raise r
                        if not r:
                            failures.append(f"{self.base_url}: a reply had no choices")
                            abort.set()
                            raise _Fatal(failures[-1])
                        texts.append(r[0])
                out[i] = texts
                bar.update(1)

            try:
                await asyncio.gather(*(one(i, p) for i, p in enumerate(prompts)), return_exceptions=True)
            finally:
                bar.close()

        if failures or any(o is None for o in out):
            done = sum(o is not None for o in out)
            first = failures[0] if failures else "unknown error"
            raise BackendError(
                f"openai backend: {len(failures)} request(s) to {self.base_url} failed for good "
                f"(first: {first}); {skipped[0]} request(s) were then not sent; "
                f"{done} of {len(prompts)} prompts were completed, and their samples are not saved. "
                "Shards finished before this are on disk: fix the server and run again to resume."
            )
        return [o for o in out if o is not None]

    # ------------------------------------------------------------------ Generator protocol

    def generate(
        self, prompts: Sequence[Prompt], n: int, settings: GenerationConfig, seed: int, desc: str = ""
    ) -> list[list[str]]:
        if not prompts:
            return []
        return _run(self._generate(prompts, n, settings, seed, desc))  # type: ignore[no-any-return]

    def close(self) -> None:
        """Nothing to free: each generate call opens and closes its own connections."""


def _server_message(r: Any) -> str:
    """The server's error text: OpenAI's {"error": {"message": ...}}, FastAPI's {"detail": ...}, or the body."""
    try:
        data = r.json()
    except ValueError:
        return r.text[:500].strip() or r.reason_phrase
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, dict):
            err = err.get("message", err)
        if err is not None:
            return str(err)[:500]
    return json.dumps(data)[:500]


def _retry_after(r: Any) -> float | None:
    v = r.headers.get("retry-after")
    if v is None:
        return None
    try:
        return max(0.0, float(v))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(v).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


@BACKENDS.register("openai")
def _make(model_ref: str, **options: Any) -> OpenAIGenerator:
    return OpenAIGenerator(model_ref, **options)
