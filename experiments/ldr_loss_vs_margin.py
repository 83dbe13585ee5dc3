"""Regenerate the ldr figure 'loss_vs_margin' (PNG + JSON) into docs/figures.

Usage: python experiments/ldr_loss_vs_margin.py [--scale smoke|default|paper] [--seed N] [--out DIR]
"""

from theory._figures import main

if __name__ == "__main__":
    main("ldr", ["loss_vs_margin"])
