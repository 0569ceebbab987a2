from sim.bench.measure import main

raise SystemExit(main())
