"""Label-distributionally robust losses (topic ``theory.ldr``)."""
