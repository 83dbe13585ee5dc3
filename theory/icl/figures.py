"""Figures of the ``icl`` topic."""

__all__ = ["FIGURES"]

FIGURES = {}
