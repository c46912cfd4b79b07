"""Settings resolved once (issue 12, item 3): presets as one object, preset < YAML < flags, every value checked,
unknown keys and sections refused, flags the chosen kind or configurations would not read refused with the fix.

Pure: no data is read (the registries of kinds and configurations are imported, nothing runs)."""
from __future__ import annotations

import dataclasses

import pytest
import yaml

from gliograde.bundles import KINDS, get_kind
from gliograde.config import (
    AugmentCfg,
    ConfigError,
    CVCfg,
    IngestCfg,
    PreprocessCfg,
    RunConfig,
    SelectionCfg,
    TrainCfg,
    from_dict,
)
from gliograde.errors import InputError
from gliograde.experiment import CONFIGS, get_config
from gliograde.presets import DEFAULT_PRESET, PRESETS, Preset, get_preset
from gliograde.settings import COMMAND_PRESET, RECORD_KEYS, as_dict, flag_name, resolve, to_yaml


# ---- presets: one object each --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_a_preset_is_one_object_with_every_section(name: str) -> None:
    p = get_preset(name)
    assert isinstance(p, Preset) and p.name == name and p.kind in ("cnn", "radiomics") and p.summary
    cfg = p.run_config()
    assert (cfg.preset, cfg.kind, cfg.ingest, cfg.train, cfg.augment, cfg.cv) == (
        name, p.kind, p.ingest, p.train, p.augment, p.cv)
    assert p.train.preset == name


def test_a_run_config_defaults_to_the_study() -> None:
    assert RunConfig() == get_preset("paper").run_config()


def test_presets_keep_their_values() -> None:
    """The values the measured numbers depend on (docs/real-data.md, docs/training.md) are unchanged."""
    paper, quick, rec = get_preset("paper"), get_preset("quick"), get_preset("recommended")
    assert (paper.train.model, paper.train.optimizer, paper.train.lr, paper.train.batch_size) == (
        "alexnet", "sgd", 1e-3, 128)
    assert paper.ingest == IngestCfg() and paper.augment == AugmentCfg() and paper.cv == CVCfg()
    assert quick.train.freeze_backbone and quick.train.image_size == 128 and quick.augment.subset == 8
    assert rec.kind == "radiomics" and rec.cv.configs == ("radiomics",) and rec.augment.subset == 8
    assert rec.ingest == IngestCfg(channels=("flair", "t1ce"),
                                   preprocess=PreprocessCfg(intensity="robust", region="brain_outside_roi"))
    assert rec.cv.selection == SelectionCfg()  # inner_cv, 5 folds, logreg/rbf_svm x k 5, 10, 20
    assert dataclasses.replace(rec.train, preset="quick") == quick.train
    assert get_preset("modern").train.optimizer == "adamw"


def test_train_and_cv_share_the_default_preset() -> None:
    assert COMMAND_PRESET["train"] == COMMAND_PRESET["cv"] == DEFAULT_PRESET == "recommended"
    assert resolve("train").cv.selection == resolve("cv").cv.selection
    assert resolve("train").ingest == resolve("cv").ingest == get_preset("recommended").ingest
    assert resolve("ingest").ingest == IngestCfg()  # ingest starts from the study's settings, as before
    assert resolve("augment").augment == AugmentCfg()


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(InputError, match="unknown preset 'fast'; choose one of paper, modern, quick, recommended"):
        resolve("train", preset="fast")


# ---- resolution order ------------------------------------------------------------------------------------------
def test_preset_then_yaml_then_flags(tmp_path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("preset: quick\ntrain:\n  epochs: 7\n  lr: 0.01\naugment:\n  subset: 3\n")
    cfg = resolve("cv", config=path, overrides={"train": {"lr": 0.5}})
    assert cfg.preset == "quick" and cfg.train.preset == "quick"
    assert (cfg.train.epochs, cfg.train.lr, cfg.augment.subset) == (7, 0.5, 3)  # YAML over preset, flag over YAML
    assert cfg.train.batch_size == get_preset("quick").train.batch_size  # the rest: the preset's
    assert resolve("cv", preset="paper", config=path).train.model == "alexnet"  # --preset beats the YAML's
    assert resolve("cv", config=path, overrides={"train": {"lr": None}}).train.lr == 0.01  # None = not given


def test_yaml_is_read_once(tmp_path, monkeypatch) -> None:
    import gliograde.settings as settings

    path = tmp_path / "run.yaml"
    path.write_text("train:\n  preset: quick\n")
    calls = []
    real = settings.load_yaml
    monkeypatch.setattr(settings, "load_yaml", lambda p: calls.append(p) or real(p))
    assert resolve("cv", config=path).preset == "quick"  # an old config's train.preset still picks the preset
    assert calls == [path]


def test_a_resolved_config_round_trips_through_yaml() -> None:
    for command in ("ingest", "augment", "train", "cv"):
        cfg = resolve(command, preset="quick", overrides={"ingest": {"preprocess": {"size": 64}}})
        again = resolve(command, config=yaml.safe_load(to_yaml(cfg, command)))
        assert again == cfg if command in ("train", "cv") else again.ingest == cfg.ingest
    assert sorted(as_dict(resolve("ingest"), "ingest")) == ["ingest", "preset"]


def test_record_keys_of_written_configs_are_accepted() -> None:
    cfg = resolve("cv", preset="quick")
    written = {"cohort": "runs/c", "data": "raw", **cfg.sections(), "classes": [2, 3], "chosen": "x", "case": "P1"}
    assert resolve("cv", config=written) == cfg  # sections may be config objects too
    assert {"data", "cohort", "classes", "chosen", "case"} <= RECORD_KEYS


# ---- every value checked: type, choice, range; unknown keys refused -------------------------------------------
@pytest.mark.parametrize(("command", "kw", "message"), [
    ("ingest", {"overrides": {"ingest": {"preprocess": {"window": (5.0,)}}}},
     r"^--window \(ingest\.preprocess\.window\): got \[5\.0\]; expected a list of 2 numbers"),
    ("ingest", {"overrides": {"ingest": {"preprocess": {"window": (60.0, 5.0)}}}}, "expected low < high"),
    ("ingest", {"overrides": {"ingest": {"preprocess": {"window": (-1.0, 50.0)}}}}, r"in \[0, 100\]"),
    ("ingest", {"overrides": {"ingest": {"preprocess": {"size": -3}}}},
     r"^--size \(ingest\.preprocess\.size\): got -3; expected a whole number >= 1$"),
    ("ingest", {"config": {"ingest": {"preprocess": {"intensity": "foo"}}}},
     "^config: ingest.preprocess.intensity: got 'foo'; expected one of 'percentile', 'zscore', 'robust'$"),
    ("train", {"config": {"train": {"epochs": "ten"}}}, "^config: train.epochs: got 'ten'; expected a whole number$"),
    ("train", {"config": {"train": {"optimizer": "adamm"}}}, r"expected one of 'sgd', 'adamw' \(did you mean 'adamw'"),
    ("train", {"config": {"trian": {"epochs": 3}}},
     r"^config: trian: unknown section \(did you mean 'train'\?\); allowed: augment, cv, ingest, kind, preset, subset, "
     r"train$"),
    ("cv", {"config": {"cv": {"fold": 3}}}, r"^config: cv.fold: unknown key \(did you mean 'folds'\?\); allowed: "),
    ("cv", {"config": {"cv": {"selection": {"inner_fold": 3}}}}, r"cv.selection.inner_fold: unknown key"),
    ("train", {"config": {"train": 5}}, "^config: train: got 5; expected a mapping of train options$"),
    ("train", {"overrides": {"train": {"val_fraction": 0.7}}}, r"--val-fraction .*in \[0, 0\.5\]"),
    ("train", {"overrides": {"train": {"lr": 0.0}}}, "expected a number > 0"),
    ("train", {"overrides": {"train": {"device": "gpu"}}}, "expected auto, cpu, cuda, cuda:N or mps"),
    ("train", {"overrides": {"train": {"epochs": True}}}, "got True; expected a whole number"),
    ("cv", {"overrides": {"cv": {"folds": 1}}}, r"^--folds \(cv\.folds\): got 1; expected a whole number >= 2$"),
    ("cv", {"overrides": {"cv": {"configs": ("radiomics", "fulll")}}}, r"unknown configuration\(s\) \['fulll'\]"),
    ("cv", {"overrides": {"cv": {"selection": {"features": ("texture",)}}}}, "expected one of 'radiomics', 'semantic'"),
    ("cv", {"overrides": {"cv": {"repeats": 3, "protocol": "site"}}}, "--protocol site"),
    ("ingest", {"config": {"ingest": {"channels": ["t1ce", "dwi"]}}}, "got 'dwi'; expected one of 't1', 'flair'"),
    ("ingest", {"overrides": {"ingest": {"channels": ()}}}, "give one or more of"),
    ("train", {"overrides": {"kind": "cnn", "train": {"model": "alexnett"}}}, "unknown model 'alexnett'; choose"),
    ("train", {"overrides": {"kind": "svm"}}, "kind: unknown model kind 'svm'"),
])
def test_a_wrong_value_is_one_line_naming_the_key(command, kw, message) -> None:
    with pytest.raises(InputError, match=message) as err:
        resolve(command, **kw)
    assert "\n" not in str(err.value)


def test_the_yaml_file_is_named_in_its_errors(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  epochs: ten\n")
    with pytest.raises(InputError, match=f"^{path}: train.epochs: got 'ten'"):
        resolve("train", config=path)
    path.write_text("train: [1\n")
    with pytest.raises(InputError, match="not valid YAML"):
        resolve("train", config=path)
    with pytest.raises(FileNotFoundError, match="config file not found"):
        resolve("train", config=tmp_path / "missing.yaml")


def test_configs_are_checked_whenever_they_are_built() -> None:
    with pytest.raises(ConfigError, match="ingest.preprocess.size: got 0; expected a whole number >= 1"):
        PreprocessCfg(size=0)
    with pytest.raises(ConfigError, match="cv.selection.classifiers: got 'knn'"):
        SelectionCfg(classifiers=("knn",))  # type: ignore[arg-type]
    assert from_dict(TrainCfg, {"lr": 1}).lr == 1.0 and isinstance(from_dict(TrainCfg, {"lr": 1}).lr, float)
    assert from_dict(IngestCfg, {"channels": ["flair"]}).channels == ("flair",)  # lists become tuples
    assert RunConfig(ingest={"slices": 3}).ingest.slices == 3  # type: ignore[arg-type]


# ---- flags a kind or configuration would not read --------------------------------------------------------------
def test_a_cnn_flag_under_the_radiomics_kind_is_refused_with_the_fix() -> None:
    with pytest.raises(InputError, match=r"^--model \(train.model\) is not read by the radiomics model kind of preset "
                                         r"recommended; add --kind cnn, or use --preset paper, modern or quick$"):
        resolve("train", overrides={"train": {"model": "alexnet", "weights": "imagenet"}})
    cfg = resolve("train", overrides={"kind": "cnn", "train": {"model": "alexnet"}})
    assert (cfg.kind, cfg.train.model) == ("cnn", "alexnet")
    assert resolve("train", preset="paper", overrides={"train": {"epochs": 2}}).train.epochs == 2
    assert resolve("train", overrides={"train": {"seed": 3}, "cv": {"seed": 3}}).train.seed == 3  # seed: everyone's


def test_a_radiomics_flag_under_a_cnn_kind_is_refused() -> None:
    with pytest.raises(InputError, match=r"--features \(cv.selection.features\) is not read by the cnn model kind of "
                                         r"preset quick; add --kind radiomics, or use --preset recommended"):
        resolve("train", preset="quick", overrides={"cv": {"selection": {"features": ("semantic",)}}})
    with pytest.raises(InputError, match="--augment-subset"):
        resolve("train", overrides={"augment": {"subset": 3}})


def test_cv_refuses_a_flag_no_chosen_configuration_reads() -> None:
    with pytest.raises(InputError, match=r"^--model \(train.model\) is not read by the configurations radiomics of "
                                         r"preset recommended; add one that reads train settings to --configs "
                                         r"\(full, no-pretrain, no-aug, fusion\), or use --preset paper"):
        resolve("cv", overrides={"train": {"model": "alexnet"}})
    with pytest.raises(InputError, match="--selection .* configurations full,no-pretrain,no-aug,handcrafted"):
        resolve("cv", preset="quick", overrides={"cv": {"selection": {"method": "none"}}})
    ok = resolve("cv", overrides={"cv": {"configs": ("radiomics", "fusion")}, "train": {"model": "resnet18"}})
    assert ok.train.model == "resnet18"
    assert resolve("cv", config={"train": {"model": "alexnet"}}).train.model == "alexnet"  # YAML: never refused


#: One flag of each section a kind or configuration may read (ModelKind.uses / CVConfiguration.uses).
SECTION_FLAGS = {"train": {"train": {"epochs": 2}}, "augment": {"augment": {"subset": 3}},
                 "selection": {"cv": {"selection": {"inner_folds": 4}}}}


@pytest.mark.parametrize("section", sorted(SECTION_FLAGS))
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_refuses_exactly_the_flags_it_does_not_read(kind: str, section: str) -> None:
    """Driven by the registry: a new kind's ``uses`` is checked without a test of its own."""
    overrides = {"kind": kind, **SECTION_FLAGS[section]}
    if section in get_kind(kind).uses:
        assert resolve("train", overrides=overrides).kind == kind
    else:
        with pytest.raises(InputError, match=f"is not read by the {kind} model kind"):
            resolve("train", overrides=overrides)


@pytest.mark.parametrize("section", sorted(SECTION_FLAGS))
@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_configuration_refuses_exactly_the_flags_it_does_not_read(name: str, section: str) -> None:
    flags = SECTION_FLAGS[section]
    overrides = {**flags, "cv": {**flags.get("cv", {}), "configs": (name,)}}
    if section in get_config(name).uses:
        assert resolve("cv", overrides=overrides).cv.configs == (name,)
    else:
        with pytest.raises(InputError, match=f"is not read by the configurations {name} "):
            resolve("cv", overrides=overrides)

def test_flag_names() -> None:
    assert flag_name("ingest.preprocess.ring_width") == "--ring-width"
    assert flag_name("cv.selection.method") == "--selection" and flag_name("augment.mode") == "--augment"


# ---- the docstring examples run -------------------------------------------------------------------------------
@pytest.mark.parametrize("module", ["gliograde", "gliograde.config", "gliograde.schema", "gliograde.presets",
                                    "gliograde.settings"])
def test_docstring_examples(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
