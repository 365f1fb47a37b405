"""``python -m review_lib`` is the same as the ``ooa-review`` command."""

from review_lib.cli import main

raise SystemExit(main())
