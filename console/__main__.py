"""``python -m console``: starts the staff console (see ``console/server.py``)."""

import sys

from console.server import main

if __name__ == "__main__":
    sys.exit(main())
