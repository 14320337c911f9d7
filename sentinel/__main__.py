"""Lets `python -m sentinel` behave exactly like the `sentinel` console script."""

from sentinel.commands.main import main

raise SystemExit(main())
