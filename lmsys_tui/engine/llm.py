"""Structured LLM calls through litellm: rate limits, retries, and JSON that validates.

Keys come from the provider's environment variables only; nothing here stores or prints
them. Servers that refuse `response_format` json_schema get json_object, then plain
instructions; every reply is validated with pydantic, with one repair attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import re
import time
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, ValidationError

T = TypeVar("T", bound=BaseModel)
RESPONSE_MODES = ("json_schema", "json_object", "plain")
_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504, 529}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


class LLMCallError(Exception):
    """A call that failed for good (after retries, or for a reason retries cannot fix)."""


@dataclass
class CallStats:
    requests: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    cache_hits: int = 0


class RateLimiter:
    """Spaces request starts at least 60/rpm seconds apart (no limit when rpm is None)."""

    def __init__(self, rpm: int | None) -> None:
        self.interval = 60.0 / rpm if rpm else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        await asyncio.sleep(start - now)


class ReplyCache:
    """Validated replies in the workspace, so the same question is never paid twice."""

    def __init__(self, con) -> None:
        self.con = con

    @staticmethod
    def key(model: str, api_base: str | None, prompt: str, schema: type[BaseModel]) -> str:
        shape = json.dumps(schema.model_json_schema(), sort_keys=True)
        material = json.dumps([model, api_base, prompt, shape])
        return hashlib.sha256(material.encode()).hexdigest()

    def get(self, key: str) -> str | None:
        rows = self.con.execute("SELECT reply FROM llm_cache WHERE cache_key = ?", [key]).fetchall()
        return rows[0][0] if rows else None

    def put(self, key: str, model: str, reply: str) -> None:
        self.con.execute(
            "INSERT OR REPLACE INTO llm_cache VALUES (?, ?, ?, now()::TIMESTAMP)",
            [key, model, reply],
        )


class LLMClient:
    """Calls one litellm model with bounded concurrency, rpm, retries and backoff."""

    def __init__(
        self,
        model: str,
        api_base: str | None = None,
        concurrency: int = 8,
        rpm: int | None = None,
        max_retries: int = 4,
        timeout: float = 120.0,
        base_delay: float = 1.0,
        cache: ReplyCache | None = None,
    ) -> None:
        self.model = model
        self.api_base = api_base
        self.semaphore = asyncio.Semaphore(concurrency)
        self.limiter = RateLimiter(rpm)
        self.max_retries = max_retries
        self.timeout = timeout
        self.base_delay = base_delay
        self.mode_index = 0  # falls back through RESPONSE_MODES when a server refuses one
        self.stats = CallStats()
        self.cache = cache

    async def structured(self, prompt: str, schema: type[T]) -> T:
        """A JSON object matching `schema`, from the cache or the model (one repair)."""
        key = ReplyCache.key(self.model, self.api_base, prompt, schema) if self.cache else ""
        cached = self.cache.get(key) if self.cache else None
        if cached is not None:
            with contextlib.suppress(ValidationError, ValueError):
                answer = schema.model_validate_json(cached)
                self.stats.cache_hits += 1
                return answer
        answer = await self._ask(prompt, schema)
        if self.cache:
            self.cache.put(key, self.model, answer.model_dump_json())
        return answer

    async def _ask(self, prompt: str, schema: type[T]) -> T:
        messages = [{"role": "user", "content": prompt}]
        reply = await self._complete(messages, schema)
        try:
            return parse_reply(reply, schema)
        except (ValueError, ValidationError) as error:
            problem = _short(error)
        messages += [
            {"role": "assistant", "content": reply},
            {
                "role": "user",
                "content": f"That reply was not valid: {problem}. Reply again "
                "with only the JSON object, keys: " + ", ".join(schema.model_fields) + ".",
            },
        ]
        reply = await self._complete(messages, schema)
        try:
            return parse_reply(reply, schema)
        except (ValueError, ValidationError) as error:
            raise LLMCallError(f"invalid reply after one repair: {_short(error)}") from None

    async def _complete(self, messages: list[dict], schema: type[BaseModel]) -> str:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm

        litellm.suppress_debug_info = True  # its help banner would mix into our output
        attempt = 0
        while True:
            await self.limiter.wait()
            async with self.semaphore:
                mode = RESPONSE_MODES[self.mode_index]  # read late: another call may have
                # found that the server refuses a response_format
                self.stats.requests += 1
                try:
                    response = await litellm.acompletion(
                        model=self.model,
                        messages=_with_instructions(messages, schema, mode),
                        api_base=self.api_base,
                        timeout=self.timeout,
                        num_retries=0,
                        **_response_format(schema, mode),
                    )
                except Exception as error:  # litellm maps every provider's errors; sort them
                    failure = error
                else:
                    self._count(response, litellm)
                    return response.choices[0].message.content or ""
            status = getattr(failure, "status_code", None)
            if status == 400 and mode != "plain" and _refuses_format(failure):
                self.mode_index = max(self.mode_index, RESPONSE_MODES.index(mode) + 1)
                continue
            if not _retryable(failure, status) or attempt >= self.max_retries:
                raise LLMCallError(_short(failure)) from None
            delay = _retry_after(failure)
            if delay is None:
                delay = self.base_delay * 2**attempt * random.uniform(0.5, 1.5)
            attempt += 1
            self.stats.retries += 1
            await asyncio.sleep(delay)  # outside the semaphore: others keep going

    def _count(self, response, litellm) -> None:
        usage = getattr(response, "usage", None)
        if usage:
            self.stats.prompt_tokens += usage.prompt_tokens or 0
            self.stats.completion_tokens += usage.completion_tokens or 0
        with contextlib.suppress(Exception):  # unknown models have no price
            self.stats.cost += litellm.completion_cost(completion_response=response) or 0.0


def _response_format(schema: type[BaseModel], mode: str) -> dict:
    if mode == "json_schema":
        return {"response_format": schema}
    if mode == "json_object":
        return {"response_format": {"type": "json_object"}}
    return {}


def _with_instructions(messages: list[dict], schema: type[BaseModel], mode: str) -> list[dict]:
    if mode == "json_schema":
        return messages
    shape = json.dumps(schema.model_json_schema())
    note = {"role": "system", "content": f"Reply with only a JSON object matching: {shape}"}
    return [note, *messages]


def _refuses_format(error: Exception) -> bool:
    text = str(error).lower()
    return "response_format" in text or "json_schema" in text or "schema" in text


def _retryable(error: Exception, status: int | None) -> bool:
    if status in _RETRY_STATUS:
        return True
    name = type(error).__name__
    return name in {
        "Timeout",
        "APIConnectionError",
        "ServiceUnavailableError",
        "InternalServerError",
        "RateLimitError",
    }


def _retry_after(error: Exception) -> float | None:
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("retry-after") if hasattr(headers, "get") else None
    try:
        return min(float(value), 120.0) if value is not None else None
    except ValueError:
        return None


def parse_reply(reply: str, schema: type[T]) -> T:
    """Validate a reply: code fences stripped, the outermost JSON object taken."""
    text = _FENCE.sub("", reply.strip())
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ValueError("no JSON object in the reply")
    return schema.model_validate(json.loads(text[start : end + 1]))


def fill_template(template: str, **values: str) -> str:
    """Put values into `{name}` placeholders in one pass, so braces inside the values
    (user text) are never read as placeholders."""
    pattern = re.compile(r"\{(" + "|".join(map(re.escape, values)) + r")\}")
    return pattern.sub(lambda match: values[match.group(1)], template)


def clean(text: str) -> str:
    """Untrusted text as one plain line: control characters and runs of whitespace removed."""
    return " ".join(_CONTROL.sub(" ", text).split())


def _short(error: BaseException) -> str:
    """An error as one clean line (provider messages can carry server text)."""
    lines = str(error).strip().splitlines()
    return clean(lines[0] if lines else type(error).__name__)[:300]
