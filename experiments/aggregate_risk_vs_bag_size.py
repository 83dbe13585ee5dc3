"""Regenerate the aggregate figure 'risk_vs_bag_size' (PNG + JSON) into docs/figures.

Usage: python experiments/aggregate_risk_vs_bag_size.py [--scale smoke|default|paper] [--seed N] [--out DIR]
"""

from theory._figures import main

if __name__ == "__main__":
    main("aggregate", ["risk_vs_bag_size"])
