"""Regenerate the moe figure 'over_rates' (PNG + JSON) into docs/figures.

Usage: python experiments/moe_over_rates.py [--scale smoke|default|paper] [--seed N] [--out DIR]
"""

from theory._figures import main

if __name__ == "__main__":
    main("moe", ["over_rates"])
