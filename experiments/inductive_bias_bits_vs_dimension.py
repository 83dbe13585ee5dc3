"""Regenerate the inductive_bias figure 'bits_vs_dimension' (PNG + JSON) into docs/figures.

Usage: python experiments/inductive_bias_bits_vs_dimension.py [--scale smoke|default|paper] [--seed N] [--out DIR]
"""

from theory._figures import main

if __name__ == "__main__":
    main("inductive_bias", ["bits_vs_dimension"])
