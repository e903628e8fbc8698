"""``python -m attnrl`` is the ``attnrl`` command."""

from attnrl.cli import main

raise SystemExit(main())
