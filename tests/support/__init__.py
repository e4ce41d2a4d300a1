"""Shared test helpers: fakes, tiny and packaged models, constructed runs, serving fixtures, store readers.

Imported as ``support.<module>``: pytest puts ``tests/`` on the path (``pythonpath`` in pyproject.toml), and
subprocesses the tests start get it through ``PYTHONPATH``."""
