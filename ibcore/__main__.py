"""``python -m ibcore ...`` runs the command line (:mod:`ibcore.cli`)."""
import sys

from .cli import main

sys.exit(main())
