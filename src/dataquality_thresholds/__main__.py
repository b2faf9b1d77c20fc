"""``python -m dataquality_thresholds`` runs the ``dqt`` command."""

import sys

from dataquality_thresholds.cli import main

sys.exit(main())
