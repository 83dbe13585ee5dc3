"""Figures of the ``aggregate`` topic."""

__all__ = ["FIGURES"]

FIGURES = {}
