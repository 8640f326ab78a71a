"""Dies during init: the first invoke reports Runtime.ExitError."""

import os

os._exit(7)
