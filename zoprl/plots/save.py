"""Saving figures atomically, in several formats."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path


def save_figure(
    fig, path_without_suffix, formats: Sequence[str] = ("png", "pdf"), dpi: int = 150
) -> list[Path]:
    """Write ``fig`` (a Figure, or an Axes whose figure is meant) to ``path.<format>`` for each
    format, creating the folder. Each file is first written to a temporary file in the same
    folder and then moved into place with ``os.replace``, so a reader never sees a partial file.
    Returns the written paths, in the order of ``formats``.
    """
    if hasattr(fig, "figure") and not hasattr(fig, "savefig"):
        fig = fig.figure
    if not hasattr(fig, "savefig"):
        raise ValueError(f"fig must be a matplotlib Figure or Axes, got {type(fig).__name__}")
    if isinstance(formats, str):
        formats = (formats,)
    supported = fig.canvas.get_supported_filetypes()
    formats = list(formats)
    if not formats:
        raise ValueError("formats must name at least one format")
    for fmt in formats:
        if fmt not in supported:
            raise ValueError(f"unknown format {fmt!r}; valid choices: {sorted(supported)}")
    base = Path(path_without_suffix)
    if base.suffix.lstrip(".") in supported:
        raise ValueError(f"path_without_suffix must not end in a format suffix, got {str(base)!r}")
    base.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        target = base.with_name(f"{base.name}.{fmt}")
        handle, tmp = tempfile.mkstemp(
            prefix=f".{base.name}.", suffix=f".{fmt}.tmp", dir=base.parent
        )
        try:
            with os.fdopen(handle, "wb") as stream:
                fig.savefig(stream, format=fmt, dpi=dpi)
            os.replace(tmp, target)
        except BaseException as err:
            if os.path.exists(tmp):
                os.remove(tmp)
            if isinstance(err, OSError) and err.filename is None:
                raise type(err)(err.errno, err.strerror or str(err), str(target)) from None
            raise
        written.append(target)
    return written
