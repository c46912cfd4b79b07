"""External validation of a bundle on a labelled cohort from another site."""
