"""Embedding on Ray: Ray Data `map_batches` over Parquet shards of the queries that still
need vectors, actors holding the model, for more cores or machines than this process has.

The driver writes the pending queries (longest first, as the local path takes them) into
Parquet shards, streams them through a pool of model actors with the order kept, and
hands back one shard's vectors at a time: the embed step commits each shard as one block
of the same vector file, so an interrupted run resumes after its last whole shard.

`ray_address` joins a running cluster (its workers need lmsys-tui installed, and the
shard folder on a path they can read); without it a local Ray is started for the step
and stopped after it (see docs/scale.md).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import EmbedError
from ..progress import Progress, ProgressSink
from .ray_session import connect, first_line, ray_workers

SHARD_QUERIES = 20_000
ACTOR_BATCH = 256  # texts per call into an actor (it batches them further for the model)


class ShardEmbedder:
    """A Ray actor: loads the step's model once, embeds batches of shard rows."""

    def __init__(self, step_fields: dict, threads: int) -> None:
        from ..embedding.embedders import make_embedder
        from ..specs import EmbedStep

        self.embedder = make_embedder(EmbedStep.model_validate(step_fields))
        if hasattr(self.embedder, "threads"):
            self.embedder.threads = threads  # the actor's share of the machine, not all of it

    def __call__(self, batch: dict) -> dict:
        texts = [str(text) for text in batch["query_text"]]
        return {"query_id": batch["query_id"], "vector": self.embedder.embed(texts)}


def embedded_on_ray(
    step,
    shards_folder: Path,
    pending: np.ndarray,
    texts_of,
    progress: ProgressSink,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(query ids, vectors) shard by shard, in the order of `pending`.

    `texts_of(ids)` reads the texts of a slice of `pending` (the caller's DuckDB).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    started_here = finished = False
    try:
        started_here = connect(step.ray_address, step.ray_workers, EmbedError)
        import ray
        import ray.data

        workers = ray_workers(step.ray_workers)
        # A shard is a block, embedded by one actor: at least four per actor keeps them all
        # busy; at most SHARD_QUERIES, so an interrupted run loses little.
        size = max(ACTOR_BATCH, min(SHARD_QUERIES, -(-len(pending) // (4 * workers))))
        shutil.rmtree(shards_folder, ignore_errors=True)
        shards_folder.mkdir(parents=True)
        shards: list[tuple[Path, np.ndarray]] = []
        for start in range(0, len(pending), size):
            ids = pending[start : start + size]
            path = shards_folder / f"shard-{len(shards):05d}.parquet"
            pq.write_table(pa.table({"query_id": ids, "query_text": texts_of(ids)}), path)
            shards.append((path, ids))
        progress(
            Progress(
                "embed",
                0,
                len(pending),
                f"embedding on Ray: {len(shards)} shards, {workers} workers",
            )
        )
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # vectors come back in shard order
        context.enable_progress_bars = False  # the step reports its own progress
        dataset = ray.data.read_parquet(
            [str(path) for path, _ in shards],
            num_cpus=0,  # reading is light; the CPUs are the model actors'
        )
        # One block per shard: a block goes to one actor, and Ray reads small files into
        # one block (all the work went to one actor).
        dataset = dataset.repartition(len(shards)).map_batches(
            ShardEmbedder,
            fn_constructor_kwargs={"step_fields": step.model_dump(), "threads": 1},
            batch_size=ACTOR_BATCH,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=1,
            num_gpus=1 if step.device == "cuda" else 0,  # a GPU each, where Ray has them
        )
        results = iter(
            dataset.iter_batches(batch_format="numpy", batch_size=None, prefetch_batches=0)
        )
        yield from _by_shard(results, shards)
        finished = True
    except Exception as error:  # Ray's errors wrap the actor's; report one line
        if isinstance(error, EmbedError):
            raise
        raise EmbedError(f"embedding on Ray failed: {first_line(error)}") from None
    finally:
        # Stopped mid-way (Ctrl-C, an error), Ray Data's threads still wait on the actors,
        # and shutting Ray down under them makes Ray end the whole process: the local Ray
        # is then left to stop when the process does, and reused by the next run.
        if started_here and finished:
            import ray

            ray.shutdown()
        shutil.rmtree(shards_folder, ignore_errors=True)


def _by_shard(batches, shards) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Regroup the stream of result batches into whole shards, checking the order."""
    ids_parts: list[np.ndarray] = []
    vector_parts: list[np.ndarray] = []
    held = 0
    shard_index = 0
    for batch in batches:
        ids_parts.append(np.asarray(batch["query_id"], dtype=np.int64))
        vector_parts.append(np.asarray(batch["vector"], dtype=np.float32))
        held += len(ids_parts[-1])
        while shard_index < len(shards) and held >= len(shards[shard_index][1]):
            expected = shards[shard_index][1]
            ids, vectors = np.concatenate(ids_parts), np.concatenate(vector_parts)
            if not np.array_equal(ids[: len(expected)], expected):
                raise EmbedError("Ray returned a shard's vectors out of order")
            yield expected, vectors[: len(expected)]
            ids_parts, vector_parts = [ids[len(expected) :]], [vectors[len(expected) :]]
            held -= len(expected)
            shard_index += 1
    if shard_index != len(shards):
        raise EmbedError(f"Ray returned {shard_index} of {len(shards)} shards")
