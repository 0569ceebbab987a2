from sim.grid.command import main

raise SystemExit(main())
