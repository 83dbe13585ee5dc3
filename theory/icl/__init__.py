"""In-context learning with linear self-attention (topic ``theory.icl``)."""
