"""Regenerate the icl figure 'step_sizes' (PNG + JSON) into docs/figures.

Usage: python experiments/icl_step_sizes.py [--scale smoke|default|paper] [--seed N] [--out DIR]
"""

from theory._figures import main

if __name__ == "__main__":
    main("icl", ["step_sizes"])
