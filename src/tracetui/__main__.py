from tracetui.report.cli import main

raise SystemExit(main())
