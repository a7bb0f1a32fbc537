"""`python -m bot` runs the Threadline command line."""

from bot.cli import main

raise SystemExit(main())
