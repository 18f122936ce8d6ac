"""``zoprl merge SHARDS... --out FOLDER``: the folders of a sweep run in shards
(``--shard i/n``, ``zoprl.experiment.shards``) joined into the sweep's table and manifest.

The shards must be finished (each holds its ``results.parquet``), belong to the same spec, and
be exactly the n parts of one split: a shard missing, given twice, or of another spec or split
is refused in one line (``FolderError``). ``FOLDER`` then holds what the unsharded sweep writes:
``spec.json``, ``results.parquet`` (the same rows, run ids and columns) and ``manifest.json``,
whose cells add up the shards' runs, batches, chunks, compilations and seconds, whose
``invocations`` are every shard's, and whose ``shards`` list each shard's folder, devices and
hosts. The chunk files stay in the shard folders.
"""

from __future__ import annotations

import os

from zoprl.experiment.folder import (
    SPEC_FILE,
    FolderError,
    check_folder_path,
    lock_folder,
    prepare_folder,
    read_json_file,
)

ADDED = ("runs", "batches", "chunks_computed", "chunks_resumed", "chunk_seconds")


def _read_shard(folder: str) -> dict:
    """spec.json and manifest.json of a finished shard folder (FolderError otherwise)."""
    record = read_json_file(os.path.join(folder, SPEC_FILE), "the spec record")
    if record is None or "shard" not in record:
        raise FolderError(f"{folder!r} is not the folder of a sweep run with --shard I/N")
    shard = record["shard"]
    manifest = read_json_file(os.path.join(folder, "manifest.json"), "the manifest")
    if manifest is None or not os.path.exists(os.path.join(folder, "results.parquet")):
        raise FolderError(
            f"shard {shard['index']}/{shard['count']} in {folder!r} is not finished; rerun its "
            "command to finish it"
        )
    return {"folder": folder, "spec": record["spec"], "shard": shard, "manifest": manifest}


def check_shards(folders: list[str]) -> list[dict]:
    """The shards of ``folders`` in shard order, checked (module doc)."""
    shards = [_read_shard(f) for f in folders]
    first = shards[0]
    count = first["shard"]["count"]
    seen: dict[int, str] = {}
    for s in shards:
        if s["spec"] != first["spec"]:
            raise FolderError(
                f"{s['folder']!r} holds a shard of another spec than {first['folder']!r}"
            )
        if s["shard"]["count"] != count:
            raise FolderError(
                f"{s['folder']!r} is a shard of {s['shard']['count']} parts, "
                f"{first['folder']!r} of {count}: a split must be merged whole"
            )
        index = s["shard"]["index"]
        if index in seen:
            raise FolderError(
                f"shard {index}/{count} is given twice: {seen[index]!r}, {s['folder']!r}"
            )
        seen[index] = s["folder"]
    missing = [i for i in range(count) if i not in seen]
    if missing:
        names = ", ".join(f"{i}/{count}" for i in missing)
        raise FolderError(f"shards {names} are missing; merge all {count} shards")
    return sorted(shards, key=lambda s: s["shard"]["index"])


def _merged_cells(shards: list[dict]) -> list[dict]:
    """Per cell (in cell order) the shards' entries added up."""
    cells: dict[str, dict] = {}
    for s in shards:
        for entry in s["manifest"].get("cells", []):
            into = cells.get(entry["cell"])
            if into is None:
                cells[entry["cell"]] = {
                    **entry,
                    "compilations": dict(entry["compilations"]),
                    "compile_seconds": dict(entry["compile_seconds"]),
                }
                continue
            for name in ADDED:
                into[name] += entry[name]
            into["batch_size"] = max(into["batch_size"], entry["batch_size"])
            for table in ("compilations", "compile_seconds"):
                for program, value in entry[table].items():
                    into[table][program] = into[table].get(program, 0) + value
    return list(cells.values())


def _check_runs(table, spec, count: int) -> None:
    """Every run id of the sweep of ``spec`` exactly once (FolderError otherwise)."""
    from zoprl.experiment import build_cells

    sizes = [c.grid_size * spec.seeds for c in build_cells(spec)]
    expected = sum(sizes)
    runs = table.groupby("run_id").size().index
    if len(runs) != expected or runs.min() != 0 or runs.max() != expected - 1:
        raise FolderError(
            f"the {count} shards hold {len(runs)} runs, not the sweep's {expected}; "
            "rerun the shards with the same spec"
        )


def merge_shards(folders: list[str], out: str, *, fresh: bool = False):
    """Merge the shard folders into ``out`` (module doc); returns the SweepResult."""
    import pandas as pd

    from zoprl.experiment import spec_from_dict
    from zoprl.experiment.engine import SweepResult
    from zoprl.storage import (
        consistent_columns,
        divergence,
        order_columns,
        provenance,
        read_table,
        sort_rows,
        write_json_atomically,
        write_table,
    )

    check_folder_path(out)  # before the shards' tables are read
    shards = check_shards([str(f) for f in folders])
    outside = os.path.abspath(out)
    if any(os.path.abspath(s["folder"]) == outside for s in shards):
        raise FolderError(f"--out {out!r} is one of the shards; choose another folder")
    frames = [read_table(s["folder"]) for s in shards]
    table = sort_rows(order_columns(consistent_columns(pd.concat(frames, ignore_index=True))))
    spec_dict = shards[0]["spec"]
    spec = spec_from_dict(spec_dict)
    _check_runs(table, spec, len(shards))

    base = shards[0]["manifest"]
    manifest = {
        **{k: v for k, v in base.items() if k != "shard"},
        "provenance": provenance(),
        "cells": _merged_cells(shards),
        "wall_seconds": sum(s["manifest"].get("wall_seconds", 0.0) for s in shards),
        "invocations": [i for s in shards for i in s["manifest"].get("invocations", [])],
        "diverged": divergence(table),
        "shards": [
            {
                "shard": f"{s['shard']['index']}/{s['shard']['count']}",
                "folder": os.path.abspath(s["folder"]),
                "device": s["manifest"].get("device"),
                "wall_seconds": s["manifest"].get("wall_seconds"),
            }
            for s in shards
        ],
    }
    with lock_folder(out):
        prepare_folder(out, spec.fingerprint(), spec_dict, fresh)
        table_path = write_table(table, os.path.join(out, "results.parquet"))
        manifest_path = write_json_atomically(os.path.join(out, "manifest.json"), manifest)
    return SweepResult(table_path, manifest_path, table, manifest)


__all__ = ["check_shards", "merge_shards"]
