"""Reports: every page and figure gliograde writes. Reads artefacts; never trains or predicts.

    artefacts.py   readers of a run folder: load_predictions (checked predictions.csv), read_json, read_history
    format.py      text: fmt_value / fmt_ci / fmt_mean_sd, the CV results table, to_jsonable (strict JSON)
    html.py        shared HTML helpers of both pages: CSS, esc, html_table, img_tag, figure_section, html_page
    plots.py       drawing on matplotlib's Figure API: ROC, reliability, confusion, training curves (plot_history)
    figures.py     a CV run's figures/*.png
    runmeta.py     what a run says about itself: its cohort (name, synthetic?) and its report's settings
    paths.py       paths as every report shows them: a folder's own name (a path can name a patient)
    cv_page.py     a CV run's report.html
    cv.py          write_report(run_dir): metrics.json + figures + report.html of a CV run (`gliograde report`)
    validation.py  an external validation's files: predictions.csv, metrics.json, figures, report.html
    cohort.py      a cohort's figures: ingest's examples and tumour areas, the synthetic cohort's montage
    montage.py     the augmentation montage (the study's Figure 4, `gliograde augment`)

No module here switches matplotlib's backend or uses pyplot, so a notebook's backend is left alone.
"""
