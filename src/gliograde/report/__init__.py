"""Reports: the CV and validation pages, figures and shared HTML helpers."""
