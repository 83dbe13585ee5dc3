"""Regenerate the comp-sum figure 'bound_curves' (PNG + JSON) into docs/figures.

Usage: python experiments/compsum_bound_curves.py [--scale smoke|default|paper] [--seed N] [--out DIR]
"""

from theory._figures import main

if __name__ == "__main__":
    main("compsum", ["bound_curves"])
