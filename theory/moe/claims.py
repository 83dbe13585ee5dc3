"""Claims of the ``moe`` topic (registered with ``theory.verify``)."""
