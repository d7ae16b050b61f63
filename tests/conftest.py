"""Shared pytest configuration.

Async tests need no marker: ``anyio_mode = "auto"`` in pyproject.toml runs each of them on
asyncio and on trio.
"""
