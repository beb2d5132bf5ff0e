"""The command-line commands, one module each: ``register(subparsers)`` adds a command and its function."""
