"""``python -m bmes_fem.validation validate|calibrate ...``: the ``bmes validate`` and ``bmes calibrate`` commands."""

import sys

from bmes_fem.validation.command import main

if __name__ == "__main__":
    sys.exit(main())
