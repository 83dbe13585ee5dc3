"""Regenerate the comp-sum figure 'exact_transforms' (PNG + JSON) into docs/figures.

Usage: python experiments/compsum_exact_transforms.py [--scale smoke|default|paper] [--seed N] [--out DIR]
"""

from theory._figures import main

if __name__ == "__main__":
    main("compsum", ["exact_transforms"])
