"""Resolve a command's settings once: preset < ``--config`` YAML < flags, checked before any data is touched.

:func:`resolve` is the only place settings are put together. It is pure: it reads the YAML file once
(or takes a dict), never sees ``argparse`` (the CLI turns its flags into a plain ``overrides`` dict of
the same shape as the YAML) and returns a frozen :class:`~gliograde.config.RunConfig`. Every value is
checked for type, choice and range, an unknown key or section is refused, and a flag that the chosen
model kind (``train``) or configurations (``cv``) would not read is refused with the fix.

>>> cfg = resolve("train")
>>> cfg.preset, cfg.kind, cfg.ingest.channels
('recommended', 'radiomics', ('flair', 't1ce'))
>>> resolve("cv", preset="quick", overrides={"cv": {"folds": 5}}).cv.folds
5
>>> resolve("train", overrides={"train": {"model": "alexnet"}})
Traceback (most recent call last):
...
gliograde.errors.InputError: --model (train.model) is not read by the radiomics model kind of preset \
recommended; add --kind cnn, or use --preset paper, modern or quick
"""
from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import yaml

from gliograde.config import ConfigError, RunConfig, from_dict, load_yaml
from gliograde.errors import InputError
from gliograde.presets import DEFAULT_PRESET, PRESETS, get_preset
from gliograde.runinfo import to_plain
from gliograde.schema import unknown_key

#: The preset each command starts from: ``train`` and ``cv`` share the recommended one; ``ingest`` and
#: ``augment`` start from the study's settings (those of ``paper``). ``predict`` and ``validate`` take the
#: model's settings from its bundle, so no preset changes what they do.
COMMAND_PRESET: dict[str, str] = {"ingest": "paper", "augment": "paper", "train": DEFAULT_PRESET,
                                  "cv": DEFAULT_PRESET, "predict": DEFAULT_PRESET, "validate": DEFAULT_PRESET}
#: The RunConfig parts each command reads and writes to its ``config.yaml``.
COMMAND_KEYS: dict[str, tuple[str, ...]] = {
    "ingest": ("preset", "ingest"), "augment": ("preset", "ingest", "augment"),
    "train": ("preset", "kind", "ingest", "train", "augment", "cv", "subset"),
    "cv": ("preset", "kind", "ingest", "train", "augment", "cv", "subset"), "predict": ("predict",),
    "validate": ("validate",)}
#: The top-level keys every command's YAML may hold (a config file can serve several commands); ``subset`` (the
#: patients ``train`` and ``cv`` use) is written only when it picks some (:meth:`RunConfig.sections`).
SHARED_SECTIONS = ("preset", "kind", "ingest", "train", "augment", "cv", "subset")
#: A command's own sections, accepted by the commands listing them only (``executor``: where the units or cases
#: run; it changes no result, so no ``config.yaml`` holds it).
OWN_SECTIONS: dict[str, tuple[str, ...]] = {"cv": ("executor",), "predict": ("predict", "executor"),
                                            "validate": ("validate", "executor")}
#: Top-level keys a written ``config.yaml`` carries for the record only (inputs, outcome); ``--config``
#: accepts and ignores them.
RECORD_KEYS = frozenset({"command", "data", "cohort", "classes", "chosen", "case", "best_epoch", "stopped_epoch",
                         "bundle", "bundle_sha256", "cases", "labels"})
#: Dotted keys whose command-line flag is not ``--<last part>`` (``augment``'s own flags are).
FLAG_NAMES = {"augment.mode": "--augment", "augment.subset": "--augment-subset", "cv.selection.method": "--selection",
              "predict.explain": "--no-cam", "predict.mask_heat": "--show-all-heat", "validate.n_boot": "--bootstrap",
              "executor.name": "--executor", "executor.address": "--ray-address"}
#: Flags every kind and configuration reads (the seed is everyone's).
SHARED_KEYS = frozenset({"train.seed"})


def resolve(command: str, *, preset: str | None = None, config: Path | Mapping[str, Any] | None = None,
            overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """The settings of one command: ``preset`` < ``config`` < ``overrides``, every value checked.

    Args:
        command: ``ingest``, ``augment``, ``train``, ``cv``, ``predict`` or ``validate`` (its default preset:
            :data:`COMMAND_PRESET`).
        preset: a name of :data:`gliograde.presets.PRESETS`; None = the YAML's ``preset``, else the command's.
        config: a YAML file (a written ``config.yaml`` replays its run) or the same data as a dict: top-level
            ``preset``, ``kind`` and sections ``ingest`` (with ``preprocess``), ``train``, ``augment``, ``cv``
            (with ``selection``), and the command's own (``predict``, ``validate``, ``executor``:
            :data:`OWN_SECTIONS`);
            :data:`RECORD_KEYS` are ignored.
        overrides: the command line's values in the same shape (None = not given).

    Returns:
        The frozen :class:`RunConfig`.

    Raises:
        InputError: unknown preset, key or section; a value of the wrong type, choice or range; a flag the
            chosen model kind or configurations do not read. The one-line message names the key.
    """
    if command not in COMMAND_PRESET:
        raise InputError(f"resolve: unknown command {command!r}; choose one of {', '.join(COMMAND_PRESET)}")
    where = str(config) if isinstance(config, (str, Path)) else "config"
    data = _sections(load_yaml(Path(config)) if isinstance(config, (str, Path)) else dict(config or {}), where,
                     command)
    flags = _drop_none(_sections(dict(overrides or {}), "overrides", command))
    name = str(preset or flags.pop("preset", None) or data.get("preset") or (data.get("train") or {}).get("preset")
               or COMMAND_PRESET[command])
    base = to_plain(get_preset(name).run_config())
    merged = _merge(_merge(base, data), flags)
    merged["preset"] = name
    merged["train"]["preset"] = name
    cfg = _build(merged, where, flags, command)
    _check_names(command, cfg)
    _refuse_unread(command, cfg, flags)
    return cfg


def sections(command: str) -> tuple[str, ...]:
    """The top-level keys ``command``'s YAML may hold, record keys apart.

    >>> sections("validate")
    ('preset', 'kind', 'ingest', 'train', 'augment', 'cv', 'subset', 'validate', 'executor')
    """
    return SHARED_SECTIONS + OWN_SECTIONS.get(command, ())


def _sections(data: dict[str, Any], where: str, command: str) -> dict[str, Any]:
    """``data`` without its record keys; a top-level key that is no section of ``command`` is refused."""
    allowed = list(sections(command))
    data = {k: to_plain(v) if dataclasses.is_dataclass(v) else v for k, v in data.items()}  # e.g. TrainCfg(...)
    for key in data:
        if key not in allowed and key not in RECORD_KEYS:
            owners = [c for c, own in OWN_SECTIONS.items() if key in own]
            if owners:  # e.g. predict: in a train config
                raise InputError(f"{where}: {key}: the settings of {_names([f'`gliograde {c}`' for c in owners])}, "
                                 f"which {command} does not read; allowed: {', '.join(sorted(allowed))}")
            err = unknown_key(str(key), key, allowed)
            raise InputError(f"{where}: {str(err).replace('unknown key', 'unknown section', 1)}")
        if key not in ("preset", "kind") and key in allowed and not isinstance(data[key], (Mapping, type(None))):
            raise InputError(f"{where}: {key}: got {data[key]!r}; expected a mapping of {key} options")
    return {k: (dict(v or {}) if k not in ("preset", "kind") else v) for k, v in data.items() if k in allowed}


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _drop_none(v) if isinstance(v, dict) else v for k, v in data.items() if v is not None}


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` laid on ``base``, section by section (a new dict; neither input changes)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested sections as dotted keys: ``{"train": {"lr": 1}}`` -> ``{"train.lr": 1}``."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        out.update(_flat(value, dotted + ".") if isinstance(value, Mapping) else {dotted: value})
    return out


def flag_name(key: str, command: str = "train") -> str:
    """The command-line flag of a dotted key (``ingest.preprocess.size`` -> ``--size``).

    >>> flag_name("train.batch_size"), flag_name("augment.subset"), flag_name("augment.subset", "augment")
    ('--batch-size', '--augment-subset', '--subset')
    """
    if key in FLAG_NAMES and command != "augment":
        return FLAG_NAMES[key]
    return "--" + key.rsplit(".", 1)[-1].replace("_", "-")


def _build(merged: dict[str, Any], where: str, flags: Mapping[str, Any], command: str) -> RunConfig:
    """The RunConfig of the merged data; a wrong value is blamed on its flag, else on the YAML file."""
    try:
        return from_dict(RunConfig, merged)
    except ConfigError as err:
        if err.key in _flat(flags):  # "--size (ingest.preprocess.size): got -3; expected ..."
            detail = str(err).removeprefix(f"{err.key}: ")
            raise InputError(f"{flag_name(err.key, command)} ({err.key}): {detail}") from err
        raise InputError(f"{where}: {err}") from err


def _check_names(command: str, cfg: RunConfig) -> None:
    """Names checked against a registry rather than a ``Literal``: the kind, the configurations, the CNN."""
    if command not in ("train", "cv"):
        return
    if "train" not in reads(command, cfg):
        return
    from gliograde.models import list_models  # imports torch; resolving ingest or augment settings does not

    if cfg.train.model not in list_models():
        raise InputError(f"train.model: unknown model {cfg.train.model!r}; choose one of {', '.join(list_models())}")
    weights = cfg.train.weights
    if weights not in ("imagenet", "none") and not Path(weights).expanduser().is_file():
        raise InputError(f"train.weights: {weights} not found; give imagenet, none or the path of a state dict")


def reads(command: str, cfg: RunConfig) -> frozenset[str]:
    """The sections (``train``, ``augment``, ``selection``) the ``train`` kind or the ``cv`` configurations read."""
    if command == "train":
        from gliograde.bundles import get_kind  # loads numpy, pandas, PIL (0.6 s): not when the CLI only parses

        try:
            return get_kind(cfg.kind).uses
        except InputError as err:
            raise InputError(f"kind: {err}") from err
    from gliograde.experiment import get_configs  # imports torch; resolving ingest or augment settings does not

    return frozenset().union(*(c.uses for c in get_configs(cfg.cv.configs)))


def _section(key: str) -> str | None:
    """The ``uses`` section a dotted key belongs to (None: read by every kind and configuration)."""
    if key in SHARED_KEYS:
        return None
    if key.startswith("cv.selection."):
        return "selection"
    head = key.split(".", 1)[0]
    return head if head in ("train", "augment") else None


def _refuse_unread(command: str, cfg: RunConfig, flags: Mapping[str, Any]) -> None:
    """A flag of a section that nothing chosen reads would change nothing: refuse it, naming the fix."""
    if command not in ("train", "cv"):
        return
    used = reads(command, cfg)
    for key in sorted(_flat(flags)):
        section = _section(key)
        if section is None or section in used:
            continue
        flag = f"{flag_name(key, command)} ({key})"
        if command == "train":
            kinds = _kinds_reading(section)
            presets = [p.name for p in PRESETS.values() if p.kind in kinds and p.name != cfg.preset]
            raise InputError(f"{flag} is not read by the {cfg.kind} model kind of preset {cfg.preset}; "
                             f"add --kind {kinds[0]}" + (f", or use --preset {_names(presets)}" if presets else ""))
        readers = _configs_reading(section)
        presets = [p.name for p in PRESETS.values() if set(p.cv.configs) & set(readers) and p.name != cfg.preset]
        raise InputError(f"{flag} is not read by the configurations {','.join(cfg.cv.configs)} of preset "
                         f"{cfg.preset}; add one that reads {section} settings to --configs ({', '.join(readers)})"
                         + (f", or use --preset {_names(presets)}" if presets else ""))


def _kinds_reading(section: str) -> list[str]:
    from gliograde.bundles import KINDS  # loads numpy, pandas, PIL (0.6 s): not when the CLI only parses

    return [name for name, kind in KINDS.items() if section in kind.uses]


def _configs_reading(section: str) -> list[str]:
    from gliograde.experiment import CONFIGS  # imports torch; resolving ingest or augment settings does not

    return [name for name, c in CONFIGS.items() if section in c.uses]


def _names(names: list[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def as_dict(cfg: RunConfig, command: str = "cv") -> dict[str, Any]:
    """The parts of ``cfg`` that ``command`` reads, as plain data: what its ``config.yaml`` holds.

    >>> sorted(as_dict(resolve("ingest"), "ingest"))
    ['ingest', 'preset']
    """
    plain = cast(dict[str, Any], to_plain(cfg))
    keys = [k for k in COMMAND_KEYS.get(command, tuple(plain)) if k != "subset" or k in cfg.sections()]
    return {k: plain[k] for k in keys}


def to_yaml(cfg: RunConfig, command: str = "cv") -> str:
    """:func:`as_dict` as YAML (``--print-config``); :func:`resolve` reads it back to the same ``cfg``.

    >>> cfg = resolve("train", preset="quick")
    >>> resolve("train", config=yaml.safe_load(to_yaml(cfg, "train"))) == cfg
    True
    """
    return yaml.safe_dump(as_dict(cfg, command), sort_keys=False)
