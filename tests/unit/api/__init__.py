"""The web layer's tests share one token (``TOKEN``, sent as ``AUTH``) and the
images the fake pod host has (``IMAGES``); the fixtures are in conftest.py."""
TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
IMAGES = {"simplecloud/light", "simplecloud/medium", "simplecloud/heavy", "nginx:1.25", "debian:bookworm-slim"}
