import sys

from outagewatch.cli import main

sys.exit(main())
