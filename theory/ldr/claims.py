"""Claims of the ``ldr`` topic (registered with ``theory.verify``)."""
