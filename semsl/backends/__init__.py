"""Storage backends: where master and fragment bytes live."""
