"""Ingest as a run: resolve the config (YAML + flags), ingest, write provenance and figures."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from gliograde.config import IngestCfg, PreprocessCfg, from_dict, load_yaml, merge
from gliograde.data.figures import plot_examples, plot_tumour_areas
from gliograde.data.ingest import IngestResult, ingest
from gliograde.errors import InputError
from gliograde.runinfo import write_run_info


def _ints(text: str | None, flag: str) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as err:
        raise InputError(f"{flag} {text!r}: expected comma-separated integers, e.g. 1,4") from err


def build_ingest_cfg(args: argparse.Namespace) -> IngestCfg:
    """YAML (``--config``, keys of IngestCfg with a nested ``preprocess``) overridden by flags."""
    data = load_yaml(getattr(args, "config", None))
    data = data.get("ingest", data)
    pre = merge(dict(data.pop("preprocess", {}) or {}), {
        "size": args.size, "margin": args.margin, "rim": args.rim, "intensity": args.intensity,
        "region": args.region, "ring_width": getattr(args, "ring_width", None),
        "window": tuple(float(v) for v in args.window.split(",")) if args.window else None,
    })
    top = merge(data, {
        "layout": args.layout,
        "channels": tuple(c.strip() for c in args.channels.split(",")) if args.channels else None,
        "roi_labels": _ints(args.roi_labels, "--roi-labels"),
        "slice_index": args.slice_index, "slices": args.slices,
        "skip_bad": True if args.skip_bad else None,
    })
    top["preprocess"] = from_dict(PreprocessCfg, pre)
    return from_dict(IngestCfg, top)


def run_ingest(data: Path, out: Path, cfg: IngestCfg, *, figures: bool = True, progress: bool = True) -> IngestResult:
    """Ingest ``data`` into ``out`` and record config, seed, versions, fingerprint and figures."""
    result = ingest(data, out, cfg, progress=progress)
    write_run_info(out, command="ingest", config={"data": str(data), **_plain(cfg)}, seed=None,
                   fingerprint={k: v for k, v in result.fingerprint.items()})
    (out / "skipped.json").write_text(json.dumps({"patients": result.skipped, "problems": result.problems}, indent=2))
    if figures:
        plot_examples(result.previews, out / "figures" / "examples_per_grade.png")
        plot_tumour_areas(result.manifest, out, out / "figures" / "tumour_areas.png")
    return result


def _plain(cfg: IngestCfg) -> dict[str, object]:
    from gliograde.runinfo import to_plain

    plain: dict[str, object] = to_plain(cfg)  # a dataclass becomes a dict
    return plain
