"""The ``mloop`` command line: Typer commands on top of the SDK (``mloop.Client``)."""
