"""Model bundles: one folder per trained model, one class per model kind."""
