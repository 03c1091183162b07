"""Many JSON POSTs to one OpenAI-compatible server: bounded concurrency, retries with
backoff on timeouts, dropped connections, 429 and 5xx, and a clear error at the end."""

from __future__ import annotations

import asyncio
import os
import random
from typing import Any, Callable, Sequence

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class HTTPError(RuntimeError):
    """A request that failed for good (after retries, or a 4xx that retrying cannot fix)."""


def api_headers(api_key_env: str | None) -> dict[str, str]:
    """Bearer auth from the named environment variable; local servers need none."""
    headers = {"Content-Type": "application/json"}
    key = os.environ.get(api_key_env) if api_key_env else None
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


def backoff(attempt: int, base: float = 0.5, cap: float = 20.0) -> float:
    """Exponential backoff with full jitter.

    >>> 0 <= backoff(0) <= 0.5 and backoff(10) <= 20
    True
    """
    return random.uniform(0, min(cap, base * 2**attempt))


async def _post(
    client: Any, url: str, payload: dict[str, Any], headers: dict[str, str], retries: int, sem: asyncio.Semaphore
) -> dict[str, Any]:
    import httpx

    last = ""
    for attempt in range(retries + 1):
        async with sem:
            try:
                r = await client.post(url, json=payload, headers=headers)
            except (httpx.TimeoutException, httpx.TransportError) as e:
                last = f"{type(e).__name__}: {e}"
            else:
                if r.status_code == 200:
                    try:
                        return dict(r.json())
                    except ValueError:
                        last = f"HTTP 200 with a body that is not JSON: {r.text[:200]!r}"
                elif r.status_code in RETRY_STATUS:
                    last = f"HTTP {r.status_code}: {r.text[:200]}"
                else:
                    raise HTTPError(f"{url}: HTTP {r.status_code}: {r.text[:500]}")
        if attempt < retries:
            await asyncio.sleep(backoff(attempt))
    raise HTTPError(f"{url}: gave up after {retries + 1} attempts; last error: {last}")


def post_many(
    url: str,
    payloads: Sequence[dict[str, Any]],
    *,
    api_key_env: str | None = "OPENAI_API_KEY",
    concurrency: int = 8,
    timeout: float = 120.0,
    retries: int = 5,
    on_done: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """POST every payload to ``url``; responses in payload order.

    Raises HTTPError naming the URL, the last error and how many requests failed.
    """
    import httpx

    headers = api_headers(api_key_env)

    async def main() -> list[Any]:
        sem = asyncio.Semaphore(max(1, concurrency))
        async with httpx.AsyncClient(timeout=timeout) as client:

            async def one(p: dict[str, Any]) -> dict[str, Any]:
                res = await _post(client, url, p, headers, retries, sem)
                if on_done:
                    on_done(1)
                return res

            return await asyncio.gather(*(one(p) for p in payloads), return_exceptions=True)

    results = asyncio.run(main())
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise HTTPError(f"{len(errors)} of {len(payloads)} requests failed; first: {errors[0]}")
    return results
