"""Lets `python -m sentinel` behave exactly like the `sentinel` console script."""

from sentinel.cli import main

raise SystemExit(main())
