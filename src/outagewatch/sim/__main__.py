"""``python -m outagewatch.sim``: see `outagewatch.sim.cli`."""

from outagewatch.sim.cli import main

raise SystemExit(main())
