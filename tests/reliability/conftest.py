"""The reliability tests: each prints the figure it measures on one line starting with "FIGURE"
(`script/test tests/reliability -s` shows them); the assertions hold the figures to what the
project promises. The shared helpers (project copies, registries we can break) are in
tests/clones.py and tests/conftest.py."""
