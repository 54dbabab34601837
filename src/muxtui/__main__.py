from muxtui.cli import main

raise SystemExit(main())
