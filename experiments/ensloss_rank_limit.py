"""Regenerate the ensloss figure 'rank_limit' (PNG + JSON) into docs/figures.

Usage: python experiments/ensloss_rank_limit.py [--scale smoke|default|paper] [--seed N] [--out DIR]
"""

from theory._figures import main

if __name__ == "__main__":
    main("ensloss", ["rank_limit"])
