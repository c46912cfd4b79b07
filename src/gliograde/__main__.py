from __future__ import annotations

import sys

from gliograde.cli import main

sys.exit(main())
