"""Mail servers the tests run with interpreters of their own (tests/pyservers.py); never imported."""
