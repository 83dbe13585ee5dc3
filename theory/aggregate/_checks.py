"""The interpolation-weight check shared by the losses, estimators and asymptotics."""

from __future__ import annotations

from theory._validation import check_real


def check_rho(rho, allow_extrapolation: bool) -> float:
    """``rho`` as a float in [0, 1], or in [0, inf) when ``allow_extrapolation``; a clear error otherwise."""
    value = check_real("rho", rho, low=0.0)
    if value > 1.0 and not allow_extrapolation:
        raise ValueError(f"rho must lie in [0, 1], got {value}; pass allow_extrapolation=True for rho > 1")
    return value
