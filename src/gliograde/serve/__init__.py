"""``gliograde serve``: the grade, its evidence and its uncertainty in a web viewer (optional extra ``[web]``).

A FastAPI app (:mod:`gliograde.serve.app`) served by uvicorn, with NiiVue (vendored under ``static/vendor``)
showing each case's volume, ROI and evidence map. Uploads are graded by the same
:func:`gliograde.prediction.run.run_predict` as ``gliograde predict`` (:mod:`gliograde.serve.worker`), in a
bounded pool of processes (:mod:`gliograde.serve.jobs`). Everything runs offline. See docs/viewer.md.

>>> # from gliograde.serve import ServeCfg, create_app
>>> # app = create_app(ServeCfg(bundle=Path("runs/m"), runs=(Path("preds"),)))   # an ASGI app for uvicorn
"""
from __future__ import annotations

from gliograde.serve.settings import ServeCfg

__all__ = ["ServeCfg"]
