"""The cross-validated experiment: splits, configurations, units, the run."""
