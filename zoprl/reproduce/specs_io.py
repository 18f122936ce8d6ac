"""Spec files with profiles: ``[profiles.<name>]`` tables of dotted-path overrides."""

from __future__ import annotations

import os

from zoprl.experiment.spec import ExperimentSpec, SpecError, spec_from_dict
from zoprl.experiment.spec_files import read_spec_file, set_path


def read_profile(path: str, profile: str) -> dict:
    """The tables of the file ``path`` with the overrides of ``[profiles.<profile>]`` applied
    (a profile the file does not list means no overrides), the profiles table removed."""
    raw = dict(read_spec_file(path))
    profiles = raw.pop("profiles", {})
    if not isinstance(profiles, dict):
        raise SpecError(f"{path}: 'profiles' must be a table of tables")
    for key, value in profiles.get(profile, {}).items():
        set_path(raw, key, value, where=f"{os.path.basename(path)} profile {profile}")
    return raw


def load_profile(path: str, profile: str) -> ExperimentSpec:
    """The spec of ``path`` with the overrides of ``[profiles.<profile>]`` applied."""
    return spec_from_dict(read_profile(path, profile), where=os.path.basename(path))
