"""Command palette: jump to a run, a cluster of the current run by title, or a query id."""

from __future__ import annotations

from functools import partial

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider


class GoToProvider(Provider):
    """Runs and clusters are read once when the palette opens (in a thread)."""

    async def startup(self) -> None:
        worker = self.app.run_worker(self._load, thread=True, group="palette")
        self.targets = await worker.wait()

    def _load(self) -> list[tuple[str, str, callable]]:
        from .engine.browse import list_clusters, list_runs, resolve_summary_run

        cursor = self.app.cursor()
        if cursor is None:
            return []
        targets = []
        runs = list_runs(cursor)
        for run in runs:
            targets.append(
                (
                    f"run {run.run_id}",
                    f"{run.n_clusters} clusters",
                    partial(self.app.open_run, run.run_id),
                )
            )
        run_id = self.app.run_id or (runs[0].run_id if runs else None)
        if run_id:
            summary = resolve_summary_run(cursor, run_id)
            for cluster in list_clusters(cursor, run_id, summary):
                targets.append(
                    (
                        f"cluster {cluster.cluster_id}: {cluster.title}",
                        f"{cluster.size:,} queries",
                        partial(self._open_cluster, run_id, cluster.cluster_id),
                    )
                )
        return targets

    def _open_cluster(self, run_id: str, cluster_id: int) -> None:
        self.app.run_id = run_id
        self.app.open_cluster(cluster_id)

    async def discover(self) -> Hits:
        for name, help_text, action in self.targets[:30]:
            yield DiscoveryHit(Text(name), action, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        stripped = query.strip().removeprefix("query").strip()
        if stripped.isdigit():
            query_id = int(stripped)
            yield Hit(
                100,
                Text(f"inspect query {query_id}"),
                partial(self.app.inspect_query, query_id),
                help="open the Query Inspector",
            )
        for name, help_text, action in self.targets:
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), action, help=help_text)
