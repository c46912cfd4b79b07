"""The radiomics kind's evidence: feature occlusion moves a logistic model's probability in the sign of
coefficient times z. The trained radiomics bundle end to end: tests/integration/test_train_radiomics_cli.py."""
from __future__ import annotations

import numpy as np

from gliograde.bundles.radiomics_evidence import contributions
from gliograde.config import SelectionCfg


def test_contributions_follow_logreg_coefficients() -> None:
    """Occlusion to the training mean moves a logistic model's probability in the sign of coef * z."""
    from gliograde.training.radiomics import fit_selected

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 15)
    X = rng.normal(size=(30, 6))
    X[:, 0] += 2 * y
    X[:, 1] -= 2 * y
    sel = SelectionCfg(method="none", classifiers=("logreg",), select_k=(3,))
    model, _ = fit_selected(X, y, np.arange(30).astype(str), sel, n_radiomics=6)
    names = tuple(f"f{i}" for i in range(6))
    out, z_max = contributions(model.model_, X[:1], names, target=1, top=3)
    clf, pre = model.model_["model"][-1], model.model_["model"][:-1]
    coef = dict(zip(pre.get_feature_names_out(np.asarray(names)), clf.coef_[0], strict=True))
    assert len(out) == 3 and {f["feature"] for f in out} <= set(coef)
    for f in out:
        assert np.sign(f["contribution"]) == np.sign(coef[f["feature"]] * f["z"])
        assert f["value"] == X[0, names.index(f["feature"])]
    assert z_max >= max(abs(f["z"]) for f in out) - 1e-3
