"""Files on disk -> an ingested cohort (``manifest.csv`` + uint8 cache) -> arrays, in data-flow order:

``source``          :class:`CaseSource`: where one patient's files are, before anything is read.
``layouts``         find the patients of a cohort folder (slices, NIfTI, DICOM), and one case folder for predict.
``manifest_layout`` the same for a manifest CSV that names every file.
``io``, ``roi``     read slices / volumes / DICOM series / masks; ROI masks and the representative slice.
``ingest``          check, read and preprocess a whole cohort into ``manifest.csv`` + ``cache/``.
``ingest_run``      ingest as a run: provenance (``config.yaml``, ``run.json``) and figures.
``dataset``         an ingested cohort on disk (:func:`is_ingested`) and in memory (:class:`Cohort`).
``cohort``          :func:`open_cohort`: what every command that takes a cohort calls, raw or ingested.
``origin``          an ingested cohort's original cases found again (kinds that read cases), checked by sha256.
"""
