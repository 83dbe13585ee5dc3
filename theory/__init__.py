"""theory: executable theorems about loss functions.

Each covered result is an object with three faces: a closed form, a jitted JAX simulator that
measures the same quantity, and a verdict (``theory.verify``) that compares the two and can fail.
"""

__version__ = "0.1.0"

#: Topic subpackages, each with a ``claims`` module that registers its claims with
#: ``theory.verify`` and a ``figures`` module that regenerates its figures.
TOPICS = ("compsum", "icl", "aggregate", "moe", "ldr", "ensloss", "inductive_bias", "cnce")
