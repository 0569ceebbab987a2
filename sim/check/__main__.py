import sys

from sim.check.command import main

sys.exit(main())
