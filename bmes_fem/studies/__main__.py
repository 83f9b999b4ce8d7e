"""``python -m bmes_fem.studies study STUDY.yaml [...]``: the ``bmes study`` command."""

import sys

from bmes_fem.studies.command import main

if __name__ == "__main__":
    sys.exit(main())
