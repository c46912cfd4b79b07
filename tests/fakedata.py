"""Writers of small but real cohort files (PNG/TIFF, NIfTI, DICOM) into tmp_path, like torchvision's
inject_fake_data, plus a random-start CNN bundle and a synthetic `gliograde cv` run folder; shared by tests/unit
and tests/integration."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
from conftest import disk_slice
from PIL import Image

from gliograde.config import AugmentCfg, CVCfg, RunConfig, SelectionCfg, TrainCfg


def write_slice_cohort(root: Path, patients: list[tuple[str, int]], *, n_slices: int = 3, size: int = 32,
                       largest: int = 1, channels: int = 3, dtype: type = np.uint8, ext: str = ".png") -> Path:
    """TCGA-LGG layout: labels.csv + <folder>/<folder>_<n>.png and _mask.png; slice ``largest`` has the biggest ROI."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (pid, grade) in enumerate(patients):
        folder = pid.replace("-", "_") + "_2000"
        (root / folder).mkdir()
        for n in range(n_slices):
            img, mask = disk_slice(size, radius=8 if n == largest else 5, seed=i * 10 + n)
            arr = np.stack([img // 2, img, img], axis=-1)[..., :channels] if channels > 1 else img
            arr = (arr.astype(np.float64) * (257 if dtype == np.uint16 else 1)).astype(dtype)
            _save(root / folder / f"{folder}_{n}{ext}", arr)
            _save(root / folder / f"{folder}_{n}_mask{ext}", mask.astype(np.uint8) * 255)
        rows.append({"patient_id": pid, "who_grade": grade, "institution": "XX", "folder": folder,
                     "largest_tumour_slice": largest})
    with open(root / "labels.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return root


def _save(path: Path, arr: np.ndarray) -> None:
    if path.suffix in (".tif", ".tiff"):
        import tifffile

        tifffile.imwrite(path, arr)
    else:
        Image.fromarray(arr).save(path)


def volume(shape: tuple[int, int, int] = (24, 24, 10), centre: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A float32 volume and an int16 BraTS-like segmentation (labels 1, 2, 4) whose area peaks at slice ``centre``."""
    rng = np.random.default_rng(seed)
    x, y, z = np.mgrid[: shape[0], : shape[1], : shape[2]]
    r = np.sqrt((x - shape[0] / 2) ** 2 + (y - shape[1] / 2) ** 2)
    radius = np.maximum(0, 7 - 1.5 * np.abs(z - centre))
    seg = np.zeros(shape, np.int16)
    seg[r <= radius] = 2
    seg[r <= radius * 0.6] = 4
    seg[r <= radius * 0.3] = 1
    vol = (100 + 50 * (seg > 0) + rng.normal(0, 5, shape)).astype(np.float32)
    return vol, seg


def write_nifti_cohort(root: Path, cases: list[tuple[str, int]], *, centre: int = 6) -> Path:
    """BraTS layout: labels.csv (case_id, who_grade) + <case>/<case>_t1ce.nii.gz, _flair.nii.gz, _seg.nii.gz."""
    import nibabel as nib

    root.mkdir(parents=True, exist_ok=True)
    aff = np.diag([-1.0, -1.0, 1.0, 1.0])
    for i, (case, _) in enumerate(cases):
        (root / case).mkdir()
        vol, seg = volume(centre=centre, seed=i)
        nib.save(nib.Nifti1Image(vol, aff), root / case / f"{case}_t1ce.nii.gz")
        nib.save(nib.Nifti1Image(vol * 0.5, aff), root / case / f"{case}_flair.nii.gz")
        nib.save(nib.Nifti1Image(seg, aff), root / case / f"{case}_seg.nii.gz")
    (root / "labels.csv").write_text("case_id,who_grade\n" + "".join(f"{c},{g}\n" for c, g in cases))
    return root


def write_dicom_series(folder: Path, vol: np.ndarray, *, patient_name: str = "Doe^Jane", patient_id: str = "PHI-12345",
                       slope: float = 2.0, intercept: float = -10.0, pixel_data: bool = True,
                       description: str | None = None, prefix: str = "IM", z0: float = 0.0,
                       uid: str | None = None, pixel_spacing: tuple[float, float] | None = None) -> list[Path]:
    """Write (rows, cols, n) ``vol`` as n CT-like MR DICOM files in reversed file order; values stored as
    (vol - intercept) / slope so that slope/intercept must be applied to get ``vol`` back. Slice k lies at
    z = z0 + 2k mm; files are ``<prefix><n-k>.dcm``; ``description`` sets SeriesDescription, ``uid`` the
    SeriesInstanceUID (default: a new one), ``pixel_spacing`` PixelSpacing (default: none written)."""
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    series_uid, paths = uid or generate_uid(), []
    n = vol.shape[2]
    for k in range(n):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"{prefix}{n - k:04d}.dcm"  # file names sort opposite to anatomy: sorting must use positions
        ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.SeriesInstanceUID = "MR", series_uid
        ds.PatientName, ds.PatientID, ds.PatientBirthDate = patient_name, patient_id, "19700101"
        if description is not None:
            ds.SeriesDescription = description
        ds.ImagePositionPatient = [0.0, 0.0, z0 + float(k) * 2.0]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        if pixel_spacing is not None:
            ds.PixelSpacing = list(pixel_spacing)
        ds.InstanceNumber = k + 1
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        if pixel_data:
            stored = np.rint((vol[..., k] - intercept) / slope).astype(np.uint16)
            ds.Rows, ds.Columns = stored.shape
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
            ds.PixelData = stored.tobytes()
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths


def recommended_cohort(tmp: Path, patients: list[tuple[str, int]], *, raw_size: int, crop_size: int,
                       selection: dict[str, object]) -> tuple[Path, Path, list[str]]:
    """A 3-channel slice cohort in ``tmp/raw``, ingested with the ``recommended`` preset at ``crop_size`` into
    ``tmp/cohort``, and the ``gliograde train`` argv that fits its radiomics bundle into ``tmp/b`` with the
    given ``cv: selection:`` grid (a small grid keeps tests fast)."""
    import dataclasses

    import yaml

    from gliograde.data.ingest_run import run_ingest
    from gliograde.presets import get_preset

    raw = write_slice_cohort(tmp / "raw", patients, size=raw_size, channels=3)
    rec = get_preset("recommended").ingest
    run_ingest(raw, tmp / "cohort", dataclasses.replace(rec, preprocess=dataclasses.replace(rec.preprocess,
                                                                                              size=crop_size)),
               figures=False, progress=False)
    (tmp / "selection.yaml").write_text(yaml.safe_dump({"cv": {"selection": selection}}))
    return raw, tmp / "cohort", ["-q", "train", str(tmp / "cohort"), "--out", str(tmp / "b"),
                                 "--config", str(tmp / "selection.yaml")]


#: The patients (three grades) and crop size of :func:`cnn_bundle`'s default cohort.
BUNDLE_PATIENTS = [("P-01", 2), ("P-02", 3), ("P-03", 4), ("P-04", 2)]
BUNDLE_SIZE = 64
#: Bundle input channels by count: one (t1ce) or three (t1, flair, t1ce).
CHANNELS = {1: ("t1ce",), 3: ("t1", "flair", "t1ce")}


def cnn_bundle(tmp: Path, patients: list[tuple[str, int]] = BUNDLE_PATIENTS, *, raw_size: int = 48,
               size: int = BUNDLE_SIZE,
               channels: tuple[str, ...] = CHANNELS[1], model: str = "efficientnet_lite0", seed: int = 0) -> Path:
    """A CNN bundle built without training, in ``tmp/bundle``: a slice cohort of ``patients`` in ``tmp/raw``
    ingested at ``size`` px into ``tmp/cohort``, random-start weights (``torch.manual_seed(seed)``), CnnBundle.write."""
    import torch  # slow to import: only the tests that build a CNN bundle pay for it

    from gliograde.bundles.cnn import CnnBundle
    from gliograde.config import AugmentCfg, IngestCfg, PreprocessCfg, RunConfig, TrainCfg
    from gliograde.data.dataset import load_cohort
    from gliograde.data.ingest_run import run_ingest
    from gliograde.models import create_model
    from gliograde.training.engine import FitResult

    raw = write_slice_cohort(tmp / "raw", patients, size=raw_size, channels=3)
    run_ingest(raw, tmp / "cohort", IngestCfg(channels=channels, preprocess=PreprocessCfg(size=size)),
               figures=False, progress=False)
    cohort = load_cohort(tmp / "cohort")
    torch.manual_seed(seed)
    net = create_model(model, len(cohort.classes), weights="none").eval()
    fit = FitResult(history=[], best_epoch=1, stopped_epoch=1, model=net)
    cfg = TrainCfg(model=model, weights="none", image_size=size, epochs=1)
    run_cfg = RunConfig(kind="cnn", train=cfg, augment=AugmentCfg(mode="none"))
    return CnnBundle.write(tmp / "bundle", cohort, fit, run_cfg)


#: Per-configuration strength of the synthetic CV runs of :func:`make_run` (the true grade's logit is raised by it).
STRENGTH = {"full": 3.0, "no-pretrain": 1.0, "no-aug": 0.8, "handcrafted": 1.5}
TWO = {"full": 3.0, "no-aug": 0.8}  # fewer configs, fewer figures: keeps the suite fast


def make_run(root: Path, classes: tuple[int, ...] = (2, 3, 4), n_patients: int = 30, n_folds: int = 3,
             protocol: str = "honest", seed: int = 0, copies: int = 1, history: bool = True,
             strength: dict[str, float] | None = None) -> Path:
    """Write a run folder as `gliograde cv` does: predictions.csv, folds.json, config.yaml, run.json, history/.

    ``copies`` > 1 mimics the paper protocol: several rows (augmented images) per patient.
    """
    import json

    import pandas as pd

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    ids = [f"P{i:03d}" for i in range(n_patients)]
    labels = [classes[i % len(classes)] for i in range(n_patients)]
    folds = [(i // len(classes)) % n_folds for i in range(n_patients)]  # every fold holds every grade
    rows = []
    for cfg, s in (strength or STRENGTH).items():
        for pid, y, f in zip(ids, labels, folds, strict=True):
            for _ in range(copies):
                logits = rng.normal(0, 1, len(classes))
                logits[classes.index(y)] += s
                p = np.exp(logits) / np.exp(logits).sum()
                rows.append({"patient_id": pid, "fold": f, "config": cfg, "protocol": protocol,
                             **{f"p_{c}": p[k] for k, c in enumerate(classes)}, "label": y,
                             "pred": classes[int(p.argmax())]})
    pd.DataFrame(rows).to_csv(root / "predictions.csv", index=False)
    fold_list = [{"fold": k, "test": [i for i, f in zip(ids, folds, strict=True) if f == k],
                  "train": [i for i, f in zip(ids, folds, strict=True) if f != k]} for k in range(n_folds)]
    (root / "folds.json").write_text(json.dumps({"n_splits": n_folds, "seed": seed, "protocol": protocol,
                                                 "folds": fold_list}))
    (root / "config.yaml").write_text(f"cv:\n  n_splits: {n_folds}\n  protocol: {protocol}\n")
    (root / "run.json").write_text(json.dumps({"command": "cv", "seed": seed, "versions": {"numpy": np.__version__},
                                               "input_fingerprint": {"sha256": "ab" * 32, "n_files": 3}}))
    if history:
        hist = root / "history" / "full"
        hist.mkdir(parents=True)
        for k in range(n_folds):
            e = np.arange(1, 5)
            pd.DataFrame({"epoch": e, "train_loss": 1 / e, "train_acc": 1 - 0.5 / e, "val_loss": 1.2 / e,
                          "val_acc": 0.9 - 0.4 / e}).to_csv(hist / f"fold{k}.csv", index=False)
    return root


def check_case_output(out: Path, case: str, classes: tuple[int, ...] = (2, 3, 4)) -> dict:  # type: ignore[type-arg]
    """What ``gliograde predict`` writes for one case of a CNN bundle (prediction.json, the overlay, timings)."""
    import json

    import pytest

    doc = json.loads((out / case / "prediction.json").read_text())
    for key in ("grade", "probabilities", "slice_index", "overlay", "model", "bundle_fingerprint", "timings_ms"):
        assert key in doc
    assert set(doc["probabilities"]) == {str(c) for c in classes}
    assert sum(doc["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
    assert doc["grade"] == int(max(doc["probabilities"], key=doc["probabilities"].get))
    png = np.asarray(Image.open(doc["overlay"]))
    # two panels + title and captions, then the caveat / unlike-training lines, colour bar and research-use line
    n_lines = (doc["grade_caveat"] is not None) + bool(doc["unlike_training"])
    assert png.shape == (14 * n_lines + 256 + 36 + 3 * 14 + 14, 2 * 256, 3) and png.dtype == np.uint8
    ev = doc["evidence"]
    assert ev["method"] == "layercam" and ev["layers"] == ["blocks.4"] and ev["display"] == "masked to ROI"
    assert ev["heat_in_roi"] == doc["heat_in_roi"] and 0.0 < ev["roi_share_of_crop"] < 1.0
    assert set(doc["timings_ms"]) == {"read", "preprocess", "inference", "total"}
    timings = json.loads((out / "timings.json").read_text())
    assert timings["warmup_ms"] > 0 and timings["cases_ok"] >= 1
    return doc


def ingested_cohort(root: Path, n: int = 2) -> Path:
    """An ingested cohort: manifest.csv + cache/P<i>.png and P<i>_mask.png (40 px, grey)."""
    (root / "cache").mkdir(parents=True)
    rows = []
    for i in range(n):
        img, m = disk_slice(40, 12, seed=i)
        Image.fromarray(img * m).save(root / "cache" / f"P{i}.png")
        Image.fromarray((m * 255).astype(np.uint8)).save(root / "cache" / f"P{i}_mask.png")
        rows.append({"patient_id": f"P{i}", "grade": 2 + i % 2, "source_image": "x", "source_mask": "y",
                     "slice_index": 0, "roi_area_px": int(m.sum()), "cache_path": f"cache/P{i}.png",
                     "cache_mask_path": f"cache/P{i}_mask.png", "site": ""})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return root


def small_cohort(root: Path, n_patients: int, size: int = 32):  # type: ignore[no-untyped-def]
    """``n_patients`` slice-layout patients of alternating grades 2/3, ingested at ``size`` px: the Cohort."""
    from gliograde.config import IngestCfg, PreprocessCfg
    from gliograde.data.dataset import load_cohort
    from gliograde.data.ingest import ingest

    write_slice_cohort(root / "raw", [(f"P-{i:02d}", 2 + i % 2) for i in range(n_patients)], size=size)
    ingest(root / "raw", root / "cohort", IngestCfg(preprocess=PreprocessCfg(size=size)), progress=False)
    return load_cohort(root / "cohort")


#: Crop size of :data:`TINY_CONFIGS`' cohorts (px).
TINY_SIZE = 48
#: The smallest RunConfig that trains each registered kind in seconds (tests/unit/test_kinds.py checks every kind
#: has one: a new kind adds its line here).
TINY_CONFIGS: dict[str, RunConfig] = {
    "cnn": RunConfig(preset="test", kind="cnn",
                     train=TrainCfg(model="efficientnet_lite0", weights="none", image_size=TINY_SIZE, epochs=1,
                                    batch_size=8, val_fraction=0.0, patience=0, device="cpu"),
                     augment=AugmentCfg(mode="none")),
    "radiomics": RunConfig(preset="test", kind="radiomics",
                           cv=CVCfg(selection=SelectionCfg(inner_folds=3, classifiers=("logreg",), select_k=(3,)))),
    "prior": RunConfig(preset="test", kind="prior"),
}
