"""Integration tests of the Fluent sandbox, driven with a plain httpx client."""
