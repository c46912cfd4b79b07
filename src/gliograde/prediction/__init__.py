"""Grading new cases with a bundle: find cases, predict, write outputs."""
