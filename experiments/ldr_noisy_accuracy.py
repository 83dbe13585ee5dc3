"""Regenerate the ldr figure 'noisy_accuracy' (PNG + JSON) into docs/figures.

Usage: python experiments/ldr_noisy_accuracy.py [--scale smoke|default|paper] [--seed N] [--out DIR]
"""

from theory._figures import main

if __name__ == "__main__":
    main("ldr", ["noisy_accuracy"])
