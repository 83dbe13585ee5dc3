"""Regenerate the comp-sum figure 'minimizability_gaps' (PNG + JSON) into docs/figures.

Usage: python experiments/compsum_minimizability_gaps.py [--scale smoke|default|paper] [--seed N] [--out DIR]
"""

from theory._figures import main

if __name__ == "__main__":
    main("compsum", ["minimizability_gaps"])
