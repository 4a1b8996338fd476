from astroi2i.cli.main import main

raise SystemExit(main())
