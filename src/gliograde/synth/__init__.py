"""Embedded synthetic glioma cohort: MRI slices of WHO grade 2, 3 and 4 tumours, offline and seeded.

Real graded glioma MRI cannot ship with the package, so ``gliograde synth`` simulates a cohort that has
the study's shape (30/43/57 patients of grade 2/3/4) and the exact file layout of the TCGA-LGG slices
(or of BraTS volumes), and that is learnable but not trivially so::

    gliograde synth --out data/synth --seed 0            # then: gliograde ingest data/synth --out cohort
    python -c "from pathlib import Path; from gliograde.synth import generate_cohort; generate_cohort(Path('d'))"

Pipeline per patient (modules: :mod:`~gliograde.synth.anatomy`, :mod:`~gliograde.synth.tumour`,
:mod:`~gliograde.synth.scanner`, :mod:`~gliograde.synth.cohort`):

1. **Anatomy**: the ICBM 2009 MNI152 T1 template and its grey/white-matter probability maps and brain
   mask, bundled in the nilearn wheel (Fonov et al., NeuroImage 2011;54:313-327). Axial slices 4 mm apart
   around the lateral ventricles. Each patient gets a random pose (rotation, scale, shift) and a smooth
   elastic warp; skull and scalp are added because the TCGA-LGG slices are not skull-stripped.
2. **Contrasts** from tissue probabilities: T1 = template (WM > GM > CSF); FLAIR = GM > WM with CSF
   suppressed; post-contrast T1 = T1 plus enhancing dura and vessels.
3. **Tumour** (below), blended into the three sequences; the mask is the FLAIR abnormality, as drawn
   by the readers of the real data (Buda et al., Comput Biol Med 2019).
4. **Acquisition** per synthetic site (``XA``..``XD``, different gain, gamma, noise and bias): a smooth
   multiplicative bias field (intensity non-uniformity; Sled et al., IEEE TMI 1998;17:87-97), Rician noise
   of magnitude images (Gudbjartsson & Patz, Magn Reson Med 1995;34:910-914), and 8-bit export.

Tumour appearance by grade. WHO grade is histological (Louis et al., Acta Neuropathol 2016;131:803-820;
Louis et al., Neuro Oncol 2021;23:1231-1251: necrosis or microvascular proliferation make an astrocytoma
grade 4); MRI only correlates with it, which is why the grades must overlap. The features used are those
of the VASARI feature set and the classic MRI grading studies (Dean et al., Radiology 1990;174:411-415:
mass effect, cyst/necrosis, heterogeneity, border definition and oedema predict grade; Pope et al.,
AJNR 2005;26:2466-2474; Upadhyay & Waldman, Br J Radiol 2011;84:S107-S111; Gutman et al., Radiology
2013;267:560-569 for VASARI on TCGA):

- **Grade 2**: well circumscribed (sharp, smooth margin), homogeneous, T1-hypointense, FLAIR-hyperintense,
  no or only faint enhancement, little oedema (the FLAIR abnormality is almost all tumour), little mass
  effect (Upadhyay & Waldman 2011).
- **Grade 3**: less defined margins, heterogeneous signal, patchy or nodular enhancement in some cases;
  about a third of non-enhancing gliomas are anaplastic (Scott et al., Neurology 2002;59:947-949), so
  non-enhancing grade 3 tumours are drawn too.
- **Grade 4**: irregular lobulated outline, thick irregular rim enhancement around a necrotic core,
  surrounding vasogenic oedema (FLAIR abnormality much larger than the enhancing tumour) and mass effect
  on the ventricles (Dean et al. 1990; Pope et al. 2005; enhancement and necrosis are the strongest
  grade-4 signs, and RANO reads enhancement and the FLAIR abnormality separately: Wen et al., J Clin Oncol
  2010;28:1963-1972).

How the overlap works: every grade-dependent parameter (size, oedema share, enhancement pattern and
fraction, rim thickness, enhancement strength, margin sharpness, irregularity, heterogeneity, mass
effect) is a function of one latent *severity* in [0, 1] plus independent jitter. Severity is drawn
around 0.18 / 0.50 / 0.82 for grade 2 / 3 / 4 with SD ``0.03 + 0.30 * difficulty``; enhancement turns
patchy above 0.36 and becomes a rim around necrosis above 0.64. So a grade-3 tumour can be
non-enhancing or rim-enhancing, a grade-4 tumour can have a thin rim or only patchy enhancement, and
the best possible model is the Bayes posterior given severity (:func:`gliograde.synth.features.oracle_auc`).
The numeric constants are modelling choices guided by the sources above, not values fitted to data.
Measured separability at the default difficulty: see ``docs/synth.md``.

Determinism: each patient has its own generator keyed by (seed, grade, index-in-grade)
(:func:`~gliograde.synth.cohort.patient_rng`), so patients do not depend on the counts; patient numbers
are a seeded shuffle (no grade information in the ids); PNG and gzip headers carry no timestamps. The
same arguments give byte-identical files.

>>> import numpy as np
>>> draw_tumour(2, np.random.default_rng(0), difficulty=0.0).enhancement
'none'
"""
from __future__ import annotations

from gliograde.synth.anatomy import Tissue, Warp, draw_warp, make_anatomy, warp_tissue
from gliograde.synth.cohort import (
    DEFAULT_COUNTS,
    DEFAULT_DIFFICULTY,
    Patient,
    SynthCfg,
    generate_cohort,
    iter_patients,
    make_patient,
    patient_rng,
)
from gliograde.synth.features import (
    cohort_features,
    grade_separability,
    handcrafted_features,
    oracle_auc,
)
from gliograde.synth.scanner import SITES, acquire, mr_contrasts
from gliograde.synth.tumour import (
    TumourMaps,
    TumourParams,
    apply_tumour,
    draw_tumour,
    render_tumour,
)

__all__ = [
    "DEFAULT_COUNTS", "DEFAULT_DIFFICULTY", "SITES", "Patient", "SynthCfg", "Tissue", "TumourMaps", "TumourParams",
    "Warp", "acquire", "apply_tumour", "cohort_features", "draw_tumour", "draw_warp", "generate_cohort",
    "grade_separability", "handcrafted_features", "iter_patients", "make_anatomy", "make_patient", "mr_contrasts",
    "oracle_auc", "patient_rng", "render_tumour", "warp_tissue",
]
