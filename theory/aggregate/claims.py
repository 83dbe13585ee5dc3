"""Claims of the ``aggregate`` topic (registered with ``theory.verify``)."""
