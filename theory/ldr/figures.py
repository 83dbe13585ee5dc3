"""Figures of the ``ldr`` topic."""

__all__ = ["FIGURES"]

FIGURES = {}
