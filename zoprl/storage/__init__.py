"""Results on disk: atomic writes, the tidy Parquet table and the manifest."""

from zoprl.storage.atomic import (
    CorruptFileError,
    load_arrays,
    save_arrays_atomically,
    write_atomically,
    write_bytes_atomically,
    write_json_atomically,
)
from zoprl.storage.manifest import (
    build_manifest,
    device_info,
    git_commit,
    package_versions,
    provenance,
)
from zoprl.storage.table import (
    ID_COLUMNS,
    RUN_COLUMNS,
    consistent_columns,
    divergence,
    exact_counts,
    order_columns,
    read_table,
    sort_rows,
    tidy_frame,
    unwrap_counts,
    write_table,
)

__all__ = [
    "CorruptFileError",
    "ID_COLUMNS",
    "RUN_COLUMNS",
    "build_manifest",
    "consistent_columns",
    "device_info",
    "divergence",
    "exact_counts",
    "git_commit",
    "load_arrays",
    "order_columns",
    "package_versions",
    "provenance",
    "read_table",
    "save_arrays_atomically",
    "sort_rows",
    "tidy_frame",
    "unwrap_counts",
    "write_atomically",
    "write_bytes_atomically",
    "write_json_atomically",
    "write_table",
]
