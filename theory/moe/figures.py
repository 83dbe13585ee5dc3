"""Figures of the ``moe`` topic."""

__all__ = ["FIGURES"]

FIGURES = {}
