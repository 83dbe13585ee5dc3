"""Regenerate the cnce figure 'density_2d' (PNG + JSON) into docs/figures.

Usage: python experiments/cnce_density_2d.py [--scale smoke|default|paper] [--seed N] [--out DIR]
"""

from theory._figures import main

if __name__ == "__main__":
    main("cnce", ["density_2d"])
