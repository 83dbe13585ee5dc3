"""Regenerate the aggregate figure 'bias_variance_vs_rho' (PNG + JSON) into docs/figures.

Usage: python experiments/aggregate_bias_variance_vs_rho.py [--scale smoke|default|paper] [--seed N] [--out DIR]
"""

from theory._figures import main

if __name__ == "__main__":
    main("aggregate", ["bias_variance_vs_rho"])
