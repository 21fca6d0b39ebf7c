"""``python -m runtime.train [rasa train options]``: how ``make train`` trains (runtime/training.py).

Before training it checks the Rasa internals that the training and the components named in
config.yml rely on (runtime/internals.py), and refuses to train when one has changed.
"""

import logging
import os
import sys

from clinic_nlu import count_vectors
from runtime import internals, rule_policy, training

# Every module whose Rasa internals are checked before training.
CHECKED = (training, count_vectors, rule_policy)

if __name__ == "__main__":
    try:
        internals.check(CHECKED)
    except internals.RasaInternalsChanged as error:
        print(f"Training cannot start: {error}", file=sys.stderr)
        sys.exit(2)
    code = training.main(sys.argv[1:])
    # The model is written. Leave without tearing the interpreter down: half a million
    # objects and TensorFlow took a second, a tenth of a retraining. Nothing is registered
    # to run at exit (Rasa's temporary folders are removed as each step ends); the output
    # and the logs are flushed first. (A failed training exits through Rasa as usual.)
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)
