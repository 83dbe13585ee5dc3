"""Regenerate the aggregate figure 'rho_star_vs_snr' (PNG + JSON) into docs/figures.

Usage: python experiments/aggregate_rho_star_vs_snr.py [--scale smoke|default|paper] [--seed N] [--out DIR]
"""

from theory._figures import main

if __name__ == "__main__":
    main("aggregate", ["rho_star_vs_snr"])
