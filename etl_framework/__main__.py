"""``python -m etl_framework`` is the ``pipeline`` command."""

from etl_framework.cli import main

main()
