"""Regenerate the icl figure 'loss_curves' (PNG + JSON) into docs/figures.

Usage: python experiments/icl_loss_curves.py [--scale smoke|default|paper] [--seed N] [--out DIR]
"""

from theory._figures import main

if __name__ == "__main__":
    main("icl", ["loss_curves"])
