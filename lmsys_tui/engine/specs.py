"""The pydantic models of a job file's steps, shared by --run-job, the CLI and the TUI's forms."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from .embedding.embedders import DEFAULT_EMBEDDING_MODEL

# The summary and hierarchy models that need no LLM; their cluster descriptions start
# with the cluster's counts (naming/counts.py).
OFFLINE_MODELS = ("offline", "taxonomy")


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")


def request_concurrency(concurrency: int | None, api_base: str | None) -> int:
    """Requests at once: as set, else 1 for a server on this machine (llama.cpp and
    Ollama answer one at a time: more only queue, and time out while they wait), else 8."""
    from .llm.client import is_local

    if concurrency:
        return concurrency
    return 1 if is_local(api_base) else 8


class LoadStep(Step):
    """Read a source into the `queries` table (first user turn of each conversation)."""

    source: str = Field(
        description='"sharegpt-sample", a Hugging Face dataset such as "lmsys/lmsys-chat-1m", '
        "or a local .parquet/.jsonl/.json/.csv file or folder"
    )
    name: str | None = Field(None, description="label stored as queries.source (default derived)")
    format: Literal["parquet", "jsonl", "json", "csv"] | None = None
    schema_: Literal["lmsys", "sharegpt", "openai", "text"] | None = Field(None, alias="schema")
    text_column: str | None = Field(None, description="column holding the prompt (plain tables)")
    conversation_column: str | None = Field(
        None,
        description="field holding the list of turns, where it is not conversation, "
        "conversations or messages (Chatbot Arena's conversation_a, say)",
    )
    id_column: str | None = Field(None, description="column holding a conversation id")
    limit: PositiveInt | None = Field(
        None, description="the source holds at most this many queries after the load"
    )
    sample: bool = Field(False, description="take a seeded random sample of `limit` rows")
    seed: int = 0
    split: str = "train"
    max_chars: PositiveInt = Field(100_000, description="longer prompts are truncated")
    encoding: Literal["utf-8", "utf-16", "latin-1"] | None = Field(
        None, description="CSV files' text encoding (default UTF-8; JSON is always UTF-8)"
    )

    @model_validator(mode="after")
    def _settings_agree(self) -> LoadStep:
        if self.sample and self.limit is None:
            raise ValueError("sample = true needs a limit (how many rows to sample)")
        if self.text_column and self.conversation_column:
            raise ValueError("name text_column (a plain table) or conversation_column, not both")
        return self


class LanguagesStep(Step):
    """Detect the language of queries whose source gave none (resumable, ~2-6k/s)."""

    enabled: bool = Field(True, description="false skips detection")
    redetect: bool = Field(
        False,
        description="detect again the languages detected before (after an upgrade of the "
        "detector); languages the source gave are kept",
    )


class EmbedStep(Step):
    """Embed every query that has no vector yet in the chosen embedding space."""

    model: str = DEFAULT_EMBEDDING_MODEL
    provider: Literal["sentence-transformers", "litellm", "model2vec"] = "sentence-transformers"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    batch_size: PositiveInt | None = Field(
        None, description="texts a batch; default: batches of 2,048 tokens on CPU, 256 texts on GPU"
    )
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="auto: fp16 on GPU, bf16 on CPUs with native bf16, else fp32"
    )
    api_base: str | None = None
    executor: Literal["local", "ray"] = Field(
        "local",
        description='"ray": Ray Data actors embed Parquet shards (the [ray] extra)',
    )
    ray_address: str | None = Field(
        None,
        description='a Ray cluster to join ("auto", "ray://host:10001"); default: local',
    )
    ray_workers: PositiveInt | None = Field(
        None, description='executor = "ray": model actors (default: one per CPU)'
    )


class Within(Step):
    """Queries of some clusters of an earlier run."""

    run_id: str
    clusters: list[int] = Field(min_length=1)


class ClusterStep(Step):
    """Cluster every embedded query of the space (or a subset: where, within, source)
    into a new run."""

    algorithm: Literal["kmeans", "hdbscan"] = "kmeans"
    n_clusters: PositiveInt = Field(50, description="k for k-means")
    seed: int = 42
    niter: PositiveInt = 20
    min_cluster_size: PositiveInt = Field(
        3, description="hdbscan: smallest cluster, counted in micro-clusters"
    )
    min_samples: PositiveInt | None = Field(1, description="hdbscan: density smoothing")
    micro_clusters: PositiveInt | None = Field(
        None, description="hdbscan: k-means micro-clusters it runs over (default n/20, 50..2000)"
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    run_id: str | None = Field(None, pattern=r"^[A-Za-z0-9._-]{1,64}$")
    description: str | None = None
    where: dict[str, str | list[str]] | None = Field(
        None, description='only queries with these values, e.g. { language = "Russian" }'
    )
    within: Within | None = Field(None, description="only queries of these clusters of a run")
    source: str | None = Field(None, description="only queries loaded from this source")
    executor: Literal["local", "ray"] = Field(
        "local",
        description='"ray": k-means trained here on a sample, every point labelled by Ray tasks',
    )
    ray_address: str | None = Field(
        None,
        description='a Ray cluster to join ("auto", "ray://host:10001"); default: local',
    )
    ray_workers: PositiveInt | None = Field(
        None, description='executor = "ray": tasks at once (default: one per CPU)'
    )

    @field_validator("run_id")
    @classmethod
    def _not_latest(cls, run_id: str | None) -> str | None:
        if run_id == "latest":
            raise ValueError('"latest" stands for the newest run in commands: pick another id')
        return run_id

    @model_validator(mode="after")
    def _ray_runs_kmeans(self) -> ClusterStep:
        if self.executor == "ray" and self.algorithm != "kmeans":
            raise ValueError('executor = "ray" runs k-means only (algorithm = "kmeans")')
        return self


class AssignStep(Step):
    """Put queries loaded after a run into its nearest clusters, without re-clustering."""

    run_id: str | None = Field(None, description="the run to add to (default: the newest)")
    novelty_percentile: float = Field(
        95, gt=0, le=100, description="farther than this percentile of the run's own: novel"
    )


class SummarizeStep(Step):
    """Name every cluster of a run: offline key phrases, taxonomy topics, or an LLM."""

    run_id: str | None = Field(
        None, description="the clustering run to work on (default: this job's, else newest)"
    )
    model: str = Field(
        "offline", description='"offline" (key phrases), "taxonomy", or a litellm model string'
    )
    api_base: str | None = None
    alias: str | None = Field(None, pattern=r"^[A-Za-z0-9._-]{1,64}$")
    summary_run_id: str | None = Field(
        None, pattern=r"^[A-Za-z0-9._-]{1,80}$", description="default summary-<model>-<time>"
    )
    max_queries: PositiveInt = Field(10, description="representative queries per cluster")
    concurrency: PositiveInt | None = Field(
        None, description="requests at once (default 8; 1 for a server on this machine)"
    )
    rpm: PositiveInt | None = None
    max_tokens: PositiveInt = Field(400, description="the longest reply asked for")
    context_tokens: PositiveInt | None = Field(
        None, description="the model's context (default: litellm's figure, else 4096)"
    )
    seed: int = 0
    prompt_file: str | None = Field(None, description="your own prompt template")
    timeout: PositiveFloat = Field(120.0, description="seconds to wait for one reply")
    taxonomy: str | None = Field(
        None, description='model = "taxonomy": your own .toml or .csv (default: the packaged one)'
    )
    min_similarity: float = Field(
        0.45, ge=-1, le=1, description="taxonomy: a topic names a cluster from this similarity"
    )
    max_cost: PositiveFloat | None = Field(
        None, description="USD: stop before passing it (what is named is kept)"
    )


class HierarchyStep(Step):
    """Organise a summary run's clusters into levels of broader categories."""

    run_id: str | None = Field(
        None, description="the clustering run to work on (default: this job's, else newest)"
    )
    summary: str | None = Field(
        None, description="summary run id or alias to organise (default: this job's, else newest)"
    )
    model: str = Field("offline", description='"offline" or a litellm model string')
    api_base: str | None = None
    levels: PositiveInt = Field(3, le=8, description="at most this many levels above clusters")
    merge_ratio: float = Field(
        0.2, gt=0, lt=1, description="each level has about this times the nodes below"
    )
    top_size: int = Field(12, ge=2, le=100, description="categories at the top level")
    concurrency: PositiveInt | None = Field(
        None, description="requests at once (default 8; 1 for a server on this machine)"
    )
    rpm: PositiveInt | None = None
    max_tokens: PositiveInt = Field(400, description="the longest reply asked for")
    seed: int = 0
    timeout: PositiveFloat = Field(120.0, description="seconds to wait for one reply")
    max_cost: PositiveFloat | None = Field(
        None, description="USD: stop before passing it (the levels saved are kept)"
    )


class IndexStep(Step):
    """Build or update the search indexes: keywords, query vectors and cluster summaries.

    Embed and summarize steps update them on their own; this step rebuilds them on demand.
    """

    model: str | None = Field(
        None, description="index only this embedding model's space (default: every space)"
    )
    summaries: bool = Field(True, description="also index cluster summaries")
    rebuild: bool = Field(False, description="rebuild from scratch instead of updating")


class ExportStep(Step):
    """Write the job's run (or the newest), one row per query, to a file."""

    path: str = Field(description="a .csv, .json, .jsonl or .parquet file")
    run_id: str | None = Field(
        None, description="the clustering run to work on (default: this job's, else newest)"
    )
    summary: str | None = Field(None, description="summary run id or alias (default newest)")
    hierarchy: str | None = Field(None, description="hierarchy run id (default newest)")
    per_cluster: int | None = Field(
        None, ge=1, description="a sample: up to N texts of each cluster, copies left out"
    )
    pick: Literal["random", "nearest"] = Field(
        "random", description="per_cluster: at random (seed), or nearest the centroid"
    )
    seed: int = Field(42, description="per_cluster, pick = random: the same seed, the same sample")


class JobSpec(Step):
    """A whole job file; each step left out is skipped."""

    load: LoadStep | None = None
    languages: LanguagesStep | None = None
    embed: EmbedStep | None = None
    cluster: ClusterStep | None = None
    assign: AssignStep | None = None
    summarize: SummarizeStep | None = None
    hierarchy: HierarchyStep | None = None
    index: IndexStep | None = None
    export: ExportStep | None = None


def quickstart_spec() -> JobSpec:
    """examples/quickstart.toml: the bundled sample, end to end, offline."""
    return JobSpec(
        load=LoadStep(source="sharegpt-sample", limit=10_000),
        languages=LanguagesStep(),
        embed=EmbedStep(),
        cluster=ClusterStep(n_clusters=50, seed=42),
        summarize=SummarizeStep(model="offline", alias="offline"),
        hierarchy=HierarchyStep(model="offline", levels=3, merge_ratio=0.3),
    )
