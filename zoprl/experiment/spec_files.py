"""Spec files and command-line overrides: TOML / YAML reading, ``path=value`` assignments.

    raw = read_spec_file("sweep.yaml")            # a dict, not validated yet
    apply_override(raw, "grid.oracle.beta=[0.5, 1]")
    spec = spec_from_dict(raw)                    # validated (zoprl.experiment.spec)

or ``load_spec(path, overrides)`` for all three. Errors are ``SpecError`` in one line.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from typing import Any

from zoprl.experiment.spec import ExperimentSpec, SpecError, nearest, spec_from_dict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def parse_value(text: str):
    """A command-line value: a TOML value (number, bool, "string", [list]) or a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


_WHOLE_KEY_TABLES = ("grid", "static_grid", "static", "hparams")


def apply_override(raw: dict, assignment: str) -> dict:
    """Apply ``path=value`` (a command-line override; the value parsed by ``parse_value``) to a
    spec dict, in place; returns it. See ``set_path`` for the paths."""
    if "=" not in assignment:
        raise SpecError(f"override {assignment!r} must have the form path=value")
    path, text = assignment.split("=", 1)
    return set_path(raw, path.strip(), parse_value(text.strip()), f"override {assignment!r}")


def set_path(raw: dict, path: str, value, where: str = "override") -> dict:
    """Set a dotted ``path`` of a spec dict to ``value`` (in place; returned): ``seeds``,
    ``environment.slip``, ``oracle.beta``, ``algorithms.<label, name or index>.static.num_pairs``;
    after ``grid``, ``static_grid``, ``static`` or ``hparams`` the rest of the path is one key
    (``grid.oracle.beta``). Unknown keys are reported when the spec is validated."""
    parts = path.split(".")
    if not all(parts):
        raise SpecError(f"{where}: empty part in the path {path!r}")
    node: Any = raw
    location = "spec"
    while True:
        head, rest = parts[0], parts[1:]
        if isinstance(node, list):
            if not rest:
                break
            node, location, parts = (
                _select_entry(location, node, head),
                f"{location}[{head}]",
                rest,
            )
            continue
        if not rest:
            node[head] = value
            return raw
        if head in _WHOLE_KEY_TABLES:
            rest = [".".join(rest)]
        child = node.setdefault(head, {})
        if not isinstance(child, (dict, list)):
            raise SpecError(f"{where}: {location}.{head} is not a table")
        node, location, parts = child, f"{location}.{head}", rest
    raise SpecError(
        f"{where}: a path into algorithms must name an entry and a key, e.g. "
        "algorithms.zpg.static.num_pairs=64"
    )


def _select_entry(where: str, entries: list, selector: str) -> dict:
    """The entry whose label is ``selector``, else the one entry of that algorithm name, else
    the entry at that index."""
    tables = [e for e in entries if isinstance(e, Mapping)]
    for key in ("label", "name"):
        matches = [e for e in tables if e.get(key, e.get("name")) == selector]
        if len(matches) > 1:
            raise SpecError(
                f"{where}: {len(matches)} algorithm entries match {selector!r}; "
                "select one by its label or index"
            )
        if matches:
            return matches[0]
    if selector.isdigit() and int(selector) < len(entries):
        return entries[int(selector)]
    names = [str(e.get("label", e.get("name"))) for e in entries if isinstance(e, Mapping)]
    raise SpecError(
        f"{where}: no algorithm entry {selector!r}{nearest(selector, names)}; "
        f"entries: {', '.join(names)}"
    )


def _yaml_loader():
    """PyYAML's safe loader, also reading 1e-3 as a float (YAML 1.1 wants 1.0e-3), like TOML,
    and refusing a key given twice in one mapping, as TOML does (PyYAML keeps the last)."""
    import yaml

    class Loader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                seen = set()
                for key_node, _ in node.value:
                    key = self.construct_object(key_node, deep=True)
                    if key in seen:
                        raise SpecError(
                            f"duplicate key {key!r} (line {key_node.start_mark.line + 1})"
                        )
                    seen.add(key)
            return super().construct_mapping(node, deep=deep)

    exponent = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", exponent, list("-+0123456789."))
    return Loader


def read_spec_file(path: str) -> dict:
    """The raw dict of a TOML (.toml) or YAML (.yaml, .yml) spec file (UTF-8 text). A file that
    is missing, unreadable, not UTF-8 or malformed is a one-line SpecError naming it."""
    if not os.path.exists(path):
        raise SpecError(f"spec file {path!r} does not exist")
    if not os.path.isfile(path):
        raise SpecError(f"spec file {path!r} is not a file")
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise SpecError(f"spec file {path!r} must end in .toml, .yaml or .yml")
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
    except UnicodeDecodeError as err:
        raise SpecError(
            f"{path}: not a UTF-8 text file (byte {err.start} cannot be decoded: {err.reason})"
        ) from None
    except OSError as err:
        raise SpecError(f"cannot read spec file {path!r}: {err.strerror or err}") from None
    if suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise SpecError(f"{path}: malformed TOML: {err}") from None
    return _read_yaml(path, text)


def _read_yaml(path: str, text: str) -> dict:
    import yaml

    try:
        raw = yaml.load(text, Loader=_yaml_loader())
    except SpecError as err:
        raise SpecError(f"{path}: malformed YAML: {err}") from None
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: malformed YAML: {' '.join(str(err).split())}") from None
    raw = {} if raw is None else raw
    if not isinstance(raw, Mapping):
        raise SpecError(
            f"{path}: the spec must be a table of key = value, got {type(raw).__name__}"
        )
    return raw


def load_spec(path: str, overrides=()) -> ExperimentSpec:
    """Read a spec file, apply ``path=value`` overrides, validate (module doc)."""
    raw = dict(read_spec_file(path))
    for assignment in overrides:
        apply_override(raw, assignment)
    return spec_from_dict(raw, where=os.path.basename(path))
