"""Regenerate the ensloss figure 'derivative_bands' (PNG + JSON) into docs/figures.

Usage: python experiments/ensloss_derivative_bands.py [--scale smoke|default|paper] [--seed N] [--out DIR]
"""

from theory._figures import main

if __name__ == "__main__":
    main("ensloss", ["derivative_bands"])
