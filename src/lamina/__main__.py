"""`python -m lamina` runs the command line."""

from lamina.cli.main import main

main()
