"""Training: the CNN loop (engine), its inputs, and the two trainers (CNN, radiomics)."""
