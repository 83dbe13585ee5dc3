"""Regenerate the comp-sum figure 'trained_pairs' (PNG + JSON) into docs/figures.

Usage: python experiments/compsum_trained_pairs.py [--scale smoke|default|paper] [--seed N] [--out DIR]
"""

from theory._figures import main

if __name__ == "__main__":
    main("compsum", ["trained_pairs"])
