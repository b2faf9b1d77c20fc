"""``python -m dataquality_thresholds`` runs the ``dqt`` command."""

import sys

from .cli import main

sys.exit(main())
