"""The tasks end to end: data, model, training, evaluation, and the run directory that
holds a trained model (``rnnkit train sentiment|charlm|seqclass`` and friends)."""
