"""Regenerate the ensloss figure 'accuracy_curves' (PNG + JSON) into docs/figures.

Usage: python experiments/ensloss_accuracy_curves.py [--scale smoke|default|paper] [--seed N] [--out DIR]
"""

from theory._figures import main

if __name__ == "__main__":
    main("ensloss", ["accuracy_curves"])
