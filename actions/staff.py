"""``python -m actions.staff COMMAND``: the staff command line, at the name staff and the
guides use. The commands live in ``clinic/staff.py`` with the rest of the clinic's backend."""

import sys

from clinic.staff import main

if __name__ == "__main__":
    sys.exit(main())
