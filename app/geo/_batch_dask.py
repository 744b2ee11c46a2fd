"""Batch location of a folder of partitions, in this process or on a dask.distributed cluster."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from app.geo._tabular_limits import TableError, TableLimits
from app.geo._tabular_stream import PARQUET_EXTENSIONS, header_of
from app.geo.batch import ENGINES, BatchError, BatchResult, locate_file
from app.geo.dataset import Dataset

#: Extensions of partition files (CSV or Parquet; XLSX is not split into partitions).
PARTITION_EXTENSIONS = (".csv", ".tsv", ".txt", *PARQUET_EXTENSIONS)
#: Seconds to wait for a scheduler before giving up.
CONNECT_TIMEOUT_S = 5

#: ``done(i, n, result, seconds_since_start, rows_so_far)`` after each partition.
PartitionDone = Callable[[int, int, BatchResult, float, int], None]

_WORKER_DATASETS: dict[str, Dataset] = {}
_WORKER_LOCK = threading.Lock()


def partitions(inputs: Iterable[Path]) -> list[Path]:
    """The partition files of folders and files, sorted by name within each folder, with the same columns.

    Parameters
    ----------
    inputs : iterable of Path
        Folders (their CSV/Parquet files, hidden files left out) and files.

    Returns
    -------
    list of Path
        The partitions.

    Raises
    ------
    BatchError
        No partitions, a file of another type, or partitions whose columns differ.
    """
    parts: list[Path] = []
    for path in inputs:
        if path.is_dir():
            parts += sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
                            and p.suffix.lower() in PARTITION_EXTENSIONS)
        elif path.suffix.lower() in PARTITION_EXTENSIONS:
            parts.append(path)
        else:
            raise BatchError(f"{path}: partitions must be CSV or Parquet files ({', '.join(PARTITION_EXTENSIONS)})")
    if not parts:
        raise BatchError(f"no CSV or Parquet partitions in {', '.join(map(str, inputs))}")
    if len({p.name for p in parts}) < len(parts):
        raise BatchError("two partitions have the same file name; their results would overwrite each other")
    first: list[str] | None = None
    for path in parts:
        try:
            columns = header_of(path)
        except TableError as exc:
            raise type(exc)(f"{path}: {exc.message}", exc.status, key=exc.key, **exc.detail) from None
        if first is None:
            first = columns
        elif columns != first:
            raise BatchError(f"partition {path.name} has other columns than {parts[0].name}: "
                             f"{', '.join(columns)} instead of {', '.join(first)}")
    return parts


def _payload(ds: Dataset, cache_dir: Path | None = None) -> dict[str, Any]:
    """What a worker needs to rebuild the data version: its layers (as read), metadata and batch index."""
    from app.geo._batch_index import batch_index

    return {"key": ds.version, "layers": {name: ds.layer(name) for name in ds.store.layer_names()},
            "metadata": ds.metadata, "batch_index": batch_index(ds, cache_dir).to_bytes()}


def _worker_dataset(payload: dict[str, Any]) -> Dataset:
    """The data version of ``payload``, built once per worker process."""
    from app.geo.memory_store import MemoryStore

    with _WORKER_LOCK:
        ds = _WORKER_DATASETS.get(payload["key"])
        if ds is None:
            ds = _WORKER_DATASETS[payload["key"]] = Dataset(MemoryStore(payload["layers"], payload["metadata"]))
            saved = payload.get("batch_index")
            if saved is not None:  # the client's batch index: not built again on every worker
                from app.geo._batch_index import BatchIndex

                index = BatchIndex.load(saved)
                if index is not None:
                    ds.cache["batch.index"] = index
        return ds


def locate_partition(payload: dict[str, Any] | Dataset, infile: Path, outfile: Path,
                     options: dict[str, Any]) -> BatchResult:
    """Locate one partition (the task a worker runs); ``payload`` is a Dataset or what :func:`_payload` made."""
    ds = payload if isinstance(payload, Dataset) else _worker_dataset(payload)
    lang = options.pop("lang", None)
    translate = None
    if lang == "zh":
        from app import messages

        translate = messages.row_translator(lang)
    return locate_file(ds, infile, outfile, translate=translate, **options)


def locate_partitions(ds: Dataset, parts: list[Path], outdir: Path, *, engine: str = "local",
                      scheduler: str | None = None, workers: int = 2, processes: bool = True,
                      suffix: str | None = None, crs: str | int | None = None, lon_col: str | None = None,
                      lat_col: str | None = None, address_col: str | None = None,
                      limits: TableLimits | None = None, chunk_rows: int = 50_000, lang: str | None = None,
                      done: PartitionDone | None = None, cache_dir: Path | None = None) -> list[BatchResult]:
    """Locate every partition into ``outdir`` (one result per partition), here or on a Dask cluster.

    The data version is sent to each Dask worker once (scattered with ``broadcast=True``) and
    rebuilt there once; every partition is then located by :func:`app.geo.batch.locate_file`,
    the same function as the single-process run, so the answers are identical.

    Parameters
    ----------
    ds : Dataset
        The data version.
    parts : list of Path
        Partition files (:func:`partitions`).
    outdir : Path
        Folder for the results, created if missing.
    engine : str
        ``"local"`` (one after another in this process) or ``"dask"``.
    scheduler : str, optional
        Address of a running Dask scheduler; by default a ``LocalCluster``.
    workers : int
        Workers of the local cluster, one thread each.
    processes : bool
        Local cluster workers in processes (False: threads of this process, for tests).
    suffix : str, optional
        Extension of the results (``.geoparquet``); by default each partition's own.
    crs, lon_col, lat_col, address_col, limits, chunk_rows, lang
        As :func:`app.geo.batch.locate_file` (``lang``: ``"zh"`` for Chinese row messages).
    done : callable, optional
        Called after each partition.
    cache_dir : Path, optional
        Where the version's batch index is saved (see :func:`app.geo.batch.locate_file`); the
        workers of a cluster get it with the data version.

    Returns
    -------
    list of BatchResult
        One per partition, in the order of ``parts``.

    Raises
    ------
    BatchError
        Unknown engine, unreachable scheduler, an output folder that is a file.
    """
    if engine not in ENGINES:
        raise BatchError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    if outdir.exists() and not outdir.is_dir():
        raise BatchError(f"--out {outdir} is a file; give a folder for partitions")
    outdir.mkdir(parents=True, exist_ok=True)
    options = {"crs": crs, "lon_col": lon_col, "lat_col": lat_col, "address_col": address_col, "limits": limits,
               "chunk_rows": chunk_rows, "lang": lang}
    targets = [outdir / (p.stem + (suffix or p.suffix)) for p in parts]
    started = time.perf_counter()
    results: list[BatchResult | None] = [None] * len(parts)
    rows = 0
    if engine == "local":
        for i, (src, dst) in enumerate(zip(parts, targets, strict=True)):
            results[i] = res = locate_partition(ds, src, dst, {**options, "cache_dir": cache_dir})
            rows += res.counts["total"]
            if done is not None:
                done(i + 1, len(parts), res, time.perf_counter() - started, rows)
        return [r for r in results if r is not None]
    client, cluster = _connect(scheduler, workers, processes)
    try:
        shipped = client.scatter(_payload(ds, cache_dir), broadcast=True, hash=False)
        futures = {client.submit(locate_partition, shipped, src, dst, dict(options), pure=False): i
                   for i, (src, dst) in enumerate(zip(parts, targets, strict=True))}
        from distributed import as_completed

        for count, future in enumerate(as_completed(futures, loop=client.loop), start=1):
            i = futures[future]
            try:
                res = future.result()
            except TableError:
                raise
            except (OSError, RuntimeError) as exc:
                raise BatchError(f"partition {parts[i].name} failed on the cluster: {exc}") from None
            results[i] = res
            rows += res.counts["total"]
            if done is not None:
                done(count, len(parts), res, time.perf_counter() - started, rows)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return [r for r in results if r is not None]


def _connect(scheduler: str | None, workers: int, processes: bool) -> tuple[Any, Any]:
    """A client of the scheduler at ``scheduler``, or of a new ``LocalCluster``, and that cluster."""
    import logging

    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            return Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s", set_as_default=False), None
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            raise BatchError(f"cannot reach the Dask scheduler at {scheduler} within {CONNECT_TIMEOUT_S} s "
                             f"({type(exc).__name__}: {exc})") from None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes, dashboard_address=None,
                           silence_logs=logging.ERROR)
    try:
        return Client(cluster, set_as_default=False), cluster
    except Exception:
        cluster.close()
        raise
