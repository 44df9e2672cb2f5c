"""Streaming a Hugging Face dataset as Arrow batches, and its errors in one line."""

from __future__ import annotations

import os
from collections.abc import Iterator

from ..errors import SourceError
from ..hf_hub import hub_endpoint, hub_unreachable

HUB_BATCH_ROWS = 50_000


def iter_hub_batches(dataset: str, split: str, batch_rows: int = HUB_BATCH_ROWS) -> Iterator:
    """Yield pyarrow tables of a streamed Hugging Face dataset (token from HF_TOKEN).

    `dataset` is a hub name, or a builder such as "parquet:/path/file.parquet" (for tests).
    """
    from_hub = not (":" in dataset and not dataset.startswith("hf"))
    if from_hub and hub_unreachable():  # streaming needs it: say so before any import or retry
        raise SourceError(
            f"cannot reach the Hugging Face hub ({hub_endpoint()}) to stream {dataset}: "
            "check the network, or load a local copy of its files (a folder of Parquet or "
            "JSON lines)"
        )
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import pyarrow as pa

    try:
        import datasets
    except ImportError:
        raise SourceError("loading from the hub needs the datasets package") from None
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    try:
        if not from_hub:
            builder, data_files = dataset.split(":", 1)
            stream = datasets.load_dataset(
                builder, data_files=data_files, split=split, streaming=True
            )
        else:
            stream = datasets.load_dataset(dataset, split=split, streaming=True, token=token)
        for batch in stream.iter(batch_size=batch_rows):
            yield pa.Table.from_pydict(batch)
    except SourceError:
        raise
    except Exception as error:  # datasets and the hub raise many kinds; each gets one line
        raise SourceError(explain_hub_error(dataset, error)) from None


def explain_hub_error(dataset: str, error: Exception) -> str:
    text = f"{type(error).__name__}: {error}"
    first_line = text.strip().splitlines()[0][:300]
    lowered = text.lower()
    if "gated" in lowered or "401" in lowered or "403" in lowered or "authenticat" in lowered:
        return (
            f"{dataset} is gated: accept its terms on huggingface.co/datasets/{dataset} "
            "and set HF_TOKEN to a token of that account"
        )
    if "offline" in lowered or "connect" in lowered or "resolve" in lowered or "network" in lowered:
        return f"cannot reach the Hugging Face hub for {dataset} ({first_line})"
    if "doesn't exist" in lowered or "not found" in lowered or "404" in lowered:
        return f"no dataset {dataset} on the Hugging Face hub (nor a local file of that name)"
    return f"cannot stream {dataset}: {first_line}"
