"""Claims of the ``icl`` topic (registered with ``theory.verify``)."""
