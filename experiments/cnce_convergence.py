"""Regenerate the cnce figure 'convergence' (PNG + JSON) into docs/figures.

Usage: python experiments/cnce_convergence.py [--scale smoke|default|paper] [--seed N] [--out DIR]
"""

from theory._figures import main

if __name__ == "__main__":
    main("cnce", ["convergence"])
