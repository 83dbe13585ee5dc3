"""Top-K sparse softmax gating MoE (topic ``theory.moe``)."""
