"""``gliograde serve BUNDLE [RUN ...]``: the grade, its evidence and its uncertainty in a web viewer.

    gliograde serve runs/m                               # http://127.0.0.1:8000: upload cases, see them graded
    gliograde serve runs/m preds runs/val runs/cv        # also list the cases of predict / validate / cv runs
    gliograde serve runs/m --host 0.0.0.0 --token T      # beyond this machine: every request needs the token

Uploads (drag and drop one case: PNG/TIFF slice + mask, NIfTI + segmentation, or a zip of a DICOM series + mask)
are graded by the same code as `gliograde predict`, in --workers processes. Cases are shown by alias
(case-<hash>) unless --keep-ids. Everything is served from the package: nothing loads from the internet.
Needs the web extra: pip install 'gliograde[web]'. See docs/viewer.md. Research use only: not a medical device.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from gliograde.errors import InputError


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = subparsers.add_parser("serve", help="web viewer: upload cases, see grade, evidence and uncertainty",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundle", type=Path, help="bundle folder written by `gliograde train`")
    p.add_argument("runs", type=Path, nargs="*", metavar="RUN",
                   help="predict, validate or cv output folders whose cases the worklist lists (default: none)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1, this machine only; any other needs --token)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument("--token", default=None,
                   help="secret every request must carry (open /?token=T once; API: Authorization: Bearer T) "
                        "(default: $GLIOGRADE_TOKEN, else none: loopback only)")
    p.add_argument("--keep-ids", action="store_true",
                   help="show case folder/file names instead of aliases (default: off; names can identify patients)")
    p.add_argument("--max-upload-mb", type=float, default=512.0,
                   help="largest upload, all files of one case together, MiB (default: 512)")
    p.add_argument("--max-unzipped-mb", type=float, default=2048.0,
                   help="most a zip may expand to, MiB (default: 2048)")
    p.add_argument("--max-zip-files", type=int, default=4000, help="most entries in one zip (default: 4000)")
    p.add_argument("--workers", type=int, default=2,
                   help="prediction processes, each loading the bundle once (default: 2)")
    p.add_argument("--workdir", type=Path, default=None,
                   help="folder for uploads and their predictions, kept: a restart lists them again "
                        "(default: a temporary folder, removed on exit)")
    return p


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn  # the web extra: only when the command runs

        from gliograde.serve.app import create_app
    except ImportError as err:
        raise InputError(f"gliograde serve needs the web extra ({err.name} is missing); "
                         "pip install 'gliograde[web]'") from err
    from gliograde.serve.settings import ServeCfg, token_from_env

    cfg = ServeCfg(bundle=args.bundle, runs=tuple(args.runs), host=args.host, port=args.port,
                   token=token_from_env(args.token), keep_ids=args.keep_ids, max_upload_mb=args.max_upload_mb,
                   max_unzipped_mb=args.max_unzipped_mb, max_zip_files=args.max_zip_files, workers=args.workers,
                   workdir=args.workdir)
    app = create_app(cfg)
    where = f"http://{'[' + cfg.host + ']' if ':' in cfg.host else cfg.host}:{cfg.port}/"
    print(f"gliograde serve: {where}{'?token=<your token>' if cfg.token else ''}  (Ctrl-C stops; "
          "research use only, not a medical device)", flush=True)
    uvicorn.run(app, host=cfg.host, port=cfg.port, access_log=False, log_level="warning" if args.quiet else "info")
    return 0
