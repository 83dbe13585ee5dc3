"""Regenerate the icl figure 'preconditioner' (PNG + JSON) into docs/figures.

Usage: python experiments/icl_preconditioner.py [--scale smoke|default|paper] [--seed N] [--out DIR]
"""

from theory._figures import main

if __name__ == "__main__":
    main("icl", ["preconditioner"])
