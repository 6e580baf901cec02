"""``python -m icepaper run ...``"""

import sys

from .cli import main

sys.exit(main())
