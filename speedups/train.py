"""``python -m speedups.train [rasa train options]``: see speedups/training.py (what ``make train`` runs)."""

import logging
import os
import sys

from speedups.training import main

if __name__ == "__main__":
    code = main(sys.argv[1:])
    # The model is written. Leave without tearing the interpreter down: half a million
    # objects and TensorFlow took a second, a tenth of a retraining. Nothing is registered
    # to run at exit (Rasa's temporary folders are removed as each step ends); the output
    # and the logs are flushed first. (A failed training exits through Rasa as usual.)
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)
