"""Bundled behaviour profiles (TOML), loaded with scanner.fakeserver.bundled_profile()."""
