"""Deprecation shims shared by the topics: old positional hyperparameters and old argument names keep
working for now and raise a ``DeprecationWarning`` (the vocabulary of docs/glossary.md)."""

from __future__ import annotations

import functools
import inspect
import warnings

from theory._validation import renamed_argument

__all__ = ["keyword_only"]

#: Old argument spellings and their names in the shared vocabulary (applied where the function has the
#: new name and not the old one).
RENAMED = {
    "n": "num_samples",
    "d": "dim",
    "steps": "num_steps",
    "n_seeds": "num_replicates",
    "replicates": "num_replicates",
    "n_prompts": "num_prompts",
    "n_pad": "num_samples_pad",
    "d_pad": "dim_pad",
}


def keyword_only(*names: str, leading: tuple[str, ...] = (), renamed: dict[str, str] | None = None):
    """Decorate a function whose hyperparameters ``names`` became keyword-only.

    An old call that passes them by position (in the order ``names``, after the function's own
    positional parameters) and an old spelling of a keyword (:data:`RENAMED`) keep working and warn.
    ``leading`` names old positional parameters that came *before* the new positional ones (a key that
    used to be the first argument): a call with more positional arguments than the new signature takes
    assigns the first ones to ``leading``. ``renamed`` adds topic-specific old spellings
    (``{"K": "num_classes"}``) to :data:`RENAMED`.
    """

    def decorate(fn):
        params = inspect.signature(fn).parameters
        n_pos = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params.values())
        spellings = {**RENAMED, **(renamed or {})}
        renamed_here = {old: new for old, new in spellings.items() if new in params and old not in params}
        owner = fn.__name__

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if len(args) > n_pos:
                moved = {}
                if leading:
                    k = min(len(leading), len(args) - n_pos)
                    moved.update(zip(leading[:k], args[:k], strict=True))
                    args = args[k:]
                extra = args[n_pos:]
                if len(extra) > len(names):
                    raise TypeError(f"{owner}() takes {n_pos} positional argument(s); got "
                                    f"{len(args) + len(moved)}: pass {', '.join(names) or 'the others'} by keyword")
                moved.update(zip(names, extra, strict=False))
                for name in moved:
                    if name in kwargs:
                        raise TypeError(f"{owner}() got multiple values for argument {name!r}")
                warnings.warn(f"{owner}: passing {', '.join(moved)} by position is deprecated; pass "
                              + ", ".join(f"{name}=..." for name in moved) + " by keyword",
                              DeprecationWarning, stacklevel=2)
                kwargs.update(moved)
                args = args[:n_pos]
            for old, new in renamed_here.items():
                if old in kwargs:
                    kwargs[new] = renamed_argument(old, new, kwargs.get(new), kwargs.pop(old), owner=owner)
            return fn(*args, **kwargs)

        return wrapper

    return decorate
