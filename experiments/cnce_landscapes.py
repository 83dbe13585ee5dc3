"""Regenerate the cnce figure 'landscapes' (PNG + JSON) into docs/figures.

Usage: python experiments/cnce_landscapes.py [--scale smoke|default|paper] [--seed N] [--out DIR]
"""

from theory._figures import main

if __name__ == "__main__":
    main("cnce", ["landscapes"])
