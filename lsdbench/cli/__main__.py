import sys

from lsdbench.cli import main

sys.exit(main())
