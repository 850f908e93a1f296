import sys

from outagewatch.cli.main import main

sys.exit(main())
