"""Structured LLM calls through litellm: rate limits, retries, and JSON that validates.

Keys come from the provider's environment variables only; nothing here stores or prints
them. Servers that refuse `response_format` json_schema get json_object, then plain
instructions, whatever status their refusal comes with (llama.cpp answers json_schema with
HTTP 500), and what a server accepts is remembered for the rest of the process. Every
reply is validated with pydantic (a "Title: ... / Description: ..." text is read too, for
small local models), with one short repair attempt. Replies are capped at `max_tokens`.
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
REPAIR_ECHO_CHARS = 600  # of a bad reply sent back in the repair turn
# The response mode each (api_base, model) accepted, for every client of this process.
_ACCEPTED_MODE: dict[tuple[str | None, str], int] = {}
_LOCAL_HOSTS = ("localhost", "127.", "0.0.0.0", "[::1]", "host.docker.internal")
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
    unpriced: int = 0  # replies litellm has no price for (a local or unlisted model)


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
        max_tokens: int | None = None,
        max_cost: float | None = None,
        cost_per_request: float | None = None,
    ) -> None:
        self.model = model
        # The cost cap: no request is sent once the spend plus one more would pass it.
        self.max_cost = max_cost
        self.cost_per_request = cost_per_request or 0.0
        self.capped = False
        self.api_base = api_base
        self.max_tokens = max_tokens
        self.semaphore = asyncio.Semaphore(concurrency)
        self.limiter = RateLimiter(rpm)
        self.max_retries = max_retries
        self.timeout = timeout
        self.base_delay = base_delay
        # Falls back through RESPONSE_MODES when a server refuses one; starts where another
        # client of the same server ended.
        self.mode_index = _ACCEPTED_MODE.get((api_base, model), 0)
        self.stats = CallStats()
        self.cache = cache
        # Set once no request can succeed (the server unreachable, the key refused).
        self.fatal: str | None = None
        self.api_key = placeholder_key(model, api_base)  # only ever for a local server
        self.first_error: str | None = None  # the first failure a caller chose to absorb

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
        # A short repair turn: a long bad reply is not sent back whole (small contexts).
        echo = reply if len(reply) <= REPAIR_ECHO_CHARS else reply[:REPAIR_ECHO_CHARS] + " …"
        messages += [
            {"role": "assistant", "content": echo},
            {
                "role": "user",
                "content": f"That reply was not valid: {problem[:200]}. Reply again "
                "with only the JSON object, keys: " + ", ".join(schema.model_fields) + ".",
            },
        ]
        reply = await self._complete(messages, schema)
        try:
            return parse_reply(reply, schema)
        except (ValueError, ValidationError) as error:
            raise LLMCallError(f"invalid reply after one repair: {_short(error)}") from None

    async def _complete(self, messages: list[dict], schema: type[BaseModel]) -> str:
        litellm = import_litellm()
        attempt = 0
        while True:
            if self.fatal:  # no point in every other cluster retrying for minutes
                raise LLMCallError(self.fatal)
            await self.limiter.wait()
            async with self.semaphore:
                if self.fatal:  # found while this request waited for its turn
                    raise LLMCallError(self.fatal)
                self._check_cap()  # here, where requests go out one at a time
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
                        **({"api_key": self.api_key} if self.api_key else {}),
                        **({"max_tokens": self.max_tokens} if self.max_tokens else {}),
                        **_response_format(schema, mode),
                    )
                except Exception as error:  # litellm maps every provider's errors; sort them
                    failure = error
                else:
                    self._count(response, litellm)
                    return response.choices[0].message.content or ""
            status = getattr(failure, "status_code", None)
            if mode != "plain" and _refuses_format(failure):
                self.mode_index = max(self.mode_index, RESPONSE_MODES.index(mode) + 1)
                _ACCEPTED_MODE[(self.api_base, self.model)] = self.mode_index
                continue
            if not _retryable(failure, status) or attempt >= self.max_retries:
                message = describe_error(failure)
                if _unreachable(failure):
                    self.fatal = f"cannot reach {self.api_base or self.model}: {message}"
                    message = self.fatal
                elif _refused_key(failure, status):
                    self.fatal = f"{self.model} refused access: {message}"
                    message = self.fatal
                raise LLMCallError(message) from None
            delay = _retry_after(failure)
            if delay is None:
                delay = self.base_delay * 2**attempt * random.uniform(0.5, 1.5)
            attempt += 1
            self.stats.retries += 1
            await asyncio.sleep(delay)  # outside the semaphore: others keep going

    def _check_cap(self) -> None:
        """Refuse to send a request that would take the spend past `max_cost`."""
        if self.max_cost is None:
            return
        # What was spent: the replies' own cost, or the plan's estimate per request when
        # the replies carry none (a proxy that hides the model).
        spent = self.stats.cost or self.stats.requests * self.cost_per_request
        per_request = max(self.cost_per_request, spent / max(self.stats.requests, 1))
        if spent + per_request > self.max_cost:
            self.capped = True
            raise LLMCallError(
                f"not asked: the cost cap ${self.max_cost:.2f} would be passed "
                f"(${spent:.4f} spent); run again with a higher max_cost to continue"
            )

    def _count(self, response, litellm) -> None:
        usage = getattr(response, "usage", None)
        if usage:
            self.stats.prompt_tokens += usage.prompt_tokens or 0
            self.stats.completion_tokens += usage.completion_tokens or 0
        try:
            self.stats.cost += litellm.completion_cost(completion_response=response) or 0.0
        except Exception:  # noqa: BLE001 - litellm raises for a model it has no price for
            self.stats.unpriced += 1


def import_litellm():
    """litellm, imported the one safe way: offline price map (else every process retries
    a download for seconds), no help banner in our output."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


def _response_format(schema: type[BaseModel], mode: str) -> dict:
    if mode == "json_schema":
        return {"response_format": schema}
    if mode == "json_object":
        return {"response_format": {"type": "json_object"}}
    return {}


def _with_instructions(messages: list[dict], schema: type[BaseModel], mode: str) -> list[dict]:
    """Without a schema-enforcing response_format, say the shape in words a small model
    follows ("title (text), tags (list of texts)"), not as a JSON Schema document."""
    if mode == "json_schema":
        return messages
    note = {
        "role": "system",
        "content": f"Reply with only a JSON object with {shape_hint(schema)}.",
    }
    return [note, *messages]


def shape_hint(schema: type[BaseModel]) -> str:
    """The schema's fields in words: `the keys title (text), tags (list of texts)`."""
    kinds = [
        f"{name} ({'list of texts' if _is_list(info) else 'text'})"
        for name, info in schema.model_fields.items()
    ]
    return "the keys " + ", ".join(kinds)


def _is_list(field_info) -> bool:
    return "list" in str(field_info.annotation)


def _refuses_format(error: Exception) -> bool:
    """A refusal that names the response format, whatever its HTTP status: llama.cpp's
    server answers json_schema with 500 "Input should be 'text' or 'json_object'"."""
    text = str(error).lower()
    return any(
        words in text
        for words in ("response_format", "response format", "json_schema", "schema", "json_object")
    )


def _unreachable(error: Exception) -> bool:
    """Nothing answers at the address (litellm reports it as several error classes)."""
    text = str(error).lower()
    return type(error).__name__ == "APIConnectionError" or any(
        words in text for words in ("connection error", "connection refused", "failed to establish")
    )


def missing_key(model: str, api_base: str | None) -> str | None:
    """One line naming the key `model` needs and the environment lacks, or None (a
    server on this machine needs none: it gets a placeholder)."""
    keys = [] if is_local(api_base) else _unset_keys(model, api_base)
    if not keys:
        return None
    return f"{model} needs {' or '.join(keys)} set in the environment, and it is not set"


def placeholder_key(model: str, api_base: str | None) -> str | None:
    """A key for a server on this machine when the environment has none: llama.cpp,
    vLLM and Ollama ignore it, but the OpenAI client refuses to send without one."""
    if is_local(api_base) and _unset_keys(model, api_base):
        return "no-key-needed"
    return None


def _unset_keys(model: str, api_base: str | None) -> list[str]:
    """The provider's key variables, when litellm's check of its environment finds none
    set (empty when one is, or for a provider litellm cannot tell about)."""
    try:
        found = import_litellm().validate_environment(model=model, api_base=api_base)
    except Exception:  # noqa: BLE001 - an unknown provider: its first request will say
        return []
    if found.get("keys_in_environment"):
        return []
    # An address variable (OLLAMA_API_BASE) has a default; only keys are required.
    return [key for key in found.get("missing_keys", []) if not key.endswith("_BASE")]


def is_local(api_base: str | None) -> bool:
    """A server on this machine (llama.cpp, vLLM, Ollama): usually one request at a time."""
    if not api_base:
        return False
    host = api_base.split("://", 1)[-1]
    return host.startswith(_LOCAL_HOSTS)


def _refused_key(error: Exception, status: int | None) -> bool:
    """No key, a key the provider refuses, or no access to the model: every other
    request would fail the same way."""
    text = str(error).lower()
    return (
        status in (401, 403)
        or type(error).__name__ in ("AuthenticationError", "PermissionDeniedError")
        or "missing credentials" in text
        or "api_key client option must be set" in text
    )


def _retryable(error: Exception, status: int | None) -> bool:
    if _refused_key(error, status):
        return False  # litellm reports a missing key as an InternalServerError
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
    """Validate a reply: code fences stripped, the outermost JSON object taken; without
    one, "Key: value" lines naming the schema's fields (what small models often write)."""
    text = _FENCE.sub("", reply.strip())
    start, end = text.find("{"), text.rfind("}")
    if start >= 0 and end > start:
        return schema.model_validate(
            _flatten_text_fields(json.loads(text[start : end + 1]), schema)
        )
    fields = _labelled_fields(text, schema)
    if not fields:
        raise ValueError("no JSON object in the reply")
    return schema.model_validate(fields)


def _flatten_text_fields(data, schema: type[BaseModel]):
    """Small models answer a text field with a list or an object of sentences: join them
    rather than throw the reply away."""
    if not isinstance(data, dict):
        return data
    for name, info in schema.model_fields.items():
        value = data.get(name)
        if info.annotation is str and isinstance(value, list | dict):
            parts = value.values() if isinstance(value, dict) else value
            data[name] = " ".join(str(part) for part in parts if part)
    return data


def _labelled_fields(text: str, schema: type[BaseModel]) -> dict:
    """{"title": ..., "description": ...} from lines such as "Title: ..." (markdown bold
    and list marks allowed); list fields split on commas."""
    found: dict = {}
    names = "|".join(map(re.escape, schema.model_fields))
    for match in re.finditer(
        rf"^[\s*#>-]*\**({names})\**\s*[:：]\s*\**(.+?)\**\s*$", text, re.I | re.M
    ):
        name, value = match.group(1).lower(), match.group(2).strip().strip('"')
        if name in found or not value:
            continue
        found[name] = (
            [v.strip() for v in value.split(",") if v.strip()]
            if _is_list(schema.model_fields[name])
            else value
        )
    return found


def fill_template(template: str, **values: str) -> str:
    """Put values into `{name}` placeholders in one pass, so braces inside the values
    (user text) are never read as placeholders."""
    pattern = re.compile(r"\{(" + "|".join(map(re.escape, values)) + r")\}")
    return pattern.sub(lambda match: values[match.group(1)], template)


def clean(text: str) -> str:
    """Untrusted text as one plain line: control characters and runs of whitespace removed."""
    return " ".join(_CONTROL.sub(" ", text).split())


def _short(error: BaseException) -> str:
    """A reply's problem as one clean line with its cause: "title: Field required" (a
    pydantic error's first line says only "1 validation error for ...")."""
    if isinstance(error, ValidationError):
        text = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'reply'}: {e['msg']}" for e in error.errors()
        )
    else:
        text = str(error) or type(error).__name__
    return clean(text)[:300]


_NOISE = re.compile(
    r"litellm\.\w+:\s*|\w+Exception\s*-\s*|Received Model Group=.*|Available Model Group.*"
    r"|LiteLLM Retried: .*",
    re.S,
)


def describe_error(error: BaseException) -> str:
    """A provider error as one clean line that keeps the cause: every line of the
    server's message (llama.cpp puts "Input should be 'text' or 'json_object'" on the
    second), without litellm's class-name prefixes."""
    text = _NOISE.sub(" ", str(error)) or type(error).__name__
    return clean(text)[:400] or type(error).__name__
