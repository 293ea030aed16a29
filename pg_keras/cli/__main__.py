"""`python -m pg_keras.cli`: the same as `pg-keras`."""

import sys

from pg_keras.cli import main

sys.exit(main())
