"""``python -m shmpipeline``: the same CLI as the ``shmpipeline`` script."""

from shmpipeline.cli import main

raise SystemExit(main())
