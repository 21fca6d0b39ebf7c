"""``python -m speedups.train [rasa train options]``: see speedups/training.py (what ``make train`` runs)."""

import sys

from speedups.training import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
