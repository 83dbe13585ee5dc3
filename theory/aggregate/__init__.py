"""Learning from aggregate responses (topic ``theory.aggregate``)."""
