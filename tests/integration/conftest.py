"""The integration tests share the ``project`` fixture of tests/conftest.py: one copy of the
project on the real engine and registry for the whole session."""
