"""``python -m activation`` runs the command line (same as the ``activation`` script)."""

from activation.cli import main

main()
