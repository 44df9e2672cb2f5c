"""Whether the Hugging Face hub can be reached, decided once and at once.

Offline, huggingface_hub retries each file for over a minute before it looks in its cache
or gives up; one TCP connection attempt says the same in milliseconds (a DNS failure) or
a few seconds (a dropped packet).
"""

from __future__ import annotations

import os
import socket
import sys
from urllib.parse import urlparse
from urllib.request import getproxies


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def hub_unreachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the hub fails. False without trying when offline mode
    is on already (the libraries then read their caches, nothing to decide) or when a
    proxy is set (where one is needed, a direct connection fails on a working network)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False
    url = urlparse(hub_endpoint())
    proxies = getproxies()
    if proxies.get(url.scheme) or proxies.get("all"):
        return False
    try:
        socket.create_connection(
            (url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)),
            timeout=timeout,
        ).close()
    except OSError:
        return True
    return False


def go_offline() -> None:
    """Hugging Face libraries read the cache only, from now on in this process. The
    constant is read when huggingface_hub is imported, so it is set both ways."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:
        constants.HF_HUB_OFFLINE = True
