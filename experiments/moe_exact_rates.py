"""Regenerate the moe figure 'exact_rates' (PNG + JSON) into docs/figures.

Usage: python experiments/moe_exact_rates.py [--scale smoke|default|paper] [--seed N] [--out DIR]
"""

from theory._figures import main

if __name__ == "__main__":
    main("moe", ["exact_rates"])
