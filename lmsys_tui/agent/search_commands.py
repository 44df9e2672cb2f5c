"""search and search-clusters: the engine's Searcher, scoped to one run."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from ..engine.retrieval.search import Searcher, SearchError, SearchFilters
from ..query_cells import hit_text_cell
from ..safe_text import one_line
from .output import filled_table, notes_to_stderr


def _int_list(text: str | None) -> tuple[int, ...]:
    if not text:
        return ()
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise SearchError(f"expected comma-separated integers, got {text!r}") from None


def _check_values(ws, column: str, value: str | None) -> None:
    """A filter value no query has is an error that lists the values there are, not an
    empty result that looks like "nothing matched the text"."""
    if value is None:
        return
    found = ws.con.execute(f"SELECT count(*) FROM queries WHERE {column} = ?", [value]).fetchall()[
        0
    ][0]
    if found:
        return
    present = [
        v
        for (v,) in ws.con.execute(
            f"SELECT {column} FROM queries WHERE {column} IS NOT NULL "
            f"GROUP BY 1 ORDER BY count(*) DESC LIMIT 8"
        ).fetchall()
    ]
    hint = (
        f"{column}s here: {', '.join(one_line(v, 30) for v in present)}"
        if present
        else (
            f"no query has any {column}"
            + ("; a [languages] step detects them" if column == "language" else "")
        )
    )
    raise SearchError(f"no query has {column} {value!r} ({hint})")


def search(ws, out, args) -> int:
    _check_values(ws, "language", args.language)
    _check_values(ws, "model", args.model)
    facets = [f.strip() for f in args.facets.split(",") if f.strip()] if args.facets else []
    filters = SearchFilters(
        cluster_ids=_int_list(args.cluster_ids),
        language=args.language,
        model=args.model,
        within_clusters=args.within_clusters,
        top_clusters=args.top_clusters,
    )
    searcher = Searcher(
        ws, run_id=args.run_id, summary_run_id=args.summary, progress=notes_to_stderr()
    )
    result = searcher.search_queries(
        args.text, mode=args.mode, n=args.n, filters=filters, facets=facets
    )

    def render():
        scope = result.run_id or result.space_id or "every query (nothing embedded yet)"
        where = f"{result.mode} search in {scope}"
        if not result.hits:
            return Text(f"{where}: no query matches {one_line(args.text, 60)!r}")
        # As `inspect` does: a column no hit fills (data without models) is left out.
        cells = {
            "query": lambda hit: str(hit.query_id),
            "score": lambda hit: f"{hit.score:.3f}",
            "cluster": lambda hit: "-" if hit.cluster_id is None else str(hit.cluster_id),
            "language": lambda hit: Text(one_line(hit.language, 12)),
            "model": lambda hit: Text(one_line(hit.model, 20)),
            "text": lambda hit: hit_text_cell(hit, 100),
        }
        title = f"{where}: {len(result.hits)} of {result.candidates:,} candidates" + (
            "" if result.matches is None else f"; {result.matches:,} hold the words"
        )
        tables = [filled_table(result.hits, cells, ("language", "model"), title=title)]
        for name, counts in result.known_facets().items():
            facet = Table(name, "count")
            for count in counts[:15]:
                facet.add_row(Text(one_line(str(count.label), 60)), f"{count.count:,}")
            tables.append(facet)
        return tables

    return out.emit(result, render)


def search_clusters(ws, out, args) -> int:
    searcher = Searcher(
        ws, run_id=args.run_id, summary_run_id=args.summary, progress=notes_to_stderr()
    )
    hits = searcher.search_clusters(args.text, k=args.k)
    data = {"run_id": searcher.run_id, "summary_run_id": searcher.summary_run_id, "clusters": hits}

    def render():
        shown = Table("cluster", "score", "size", "title", "description")
        for hit in hits:
            shown.add_row(
                str(hit.cluster_id),
                f"{hit.score:.3f}",
                f"{hit.size:,}",
                Text(one_line(hit.title, 50)),
                Text(one_line(hit.description, 90)),
            )
        return shown

    return out.emit(data, render)
