"""How many messages a sender or a client address may send in a time window.

A sliding window per key (the sender id, the client's address), kept in memory with a
bound on the number of keys, so a flood of new senders cannot grow memory without limit:
the least recently seen keys are forgotten first. Each Rasa server process keeps its own
counts; behind a load balancer the limit applies per server.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict, deque
from typing import Callable, Deque, Optional

from clinic.settings import Limit


class RateLimiter:
    """Counts hits per key; says how long to wait when a key is over its limit."""

    def __init__(self, limit: Limit, max_keys: int = 50_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.max_keys = max_keys
        self._clock = clock
        self._hits: "OrderedDict[str, Deque[float]]" = OrderedDict()

    def __len__(self) -> int:
        return len(self._hits)

    def hit(self, key: str) -> Optional[int]:
        """Records one message for ``key``; None when allowed, else whole seconds to wait (at least 1)."""
        now = self._clock()
        window = self._hits.get(key)
        if window is None:
            window = deque()
            self._hits[key] = window
            if len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
        else:
            self._hits.move_to_end(key)
        while window and window[0] <= now - self.limit.seconds:
            window.popleft()
        if len(window) >= self.limit.count:
            return max(1, math.ceil(window[0] + self.limit.seconds - now))
        window.append(now)
        return None


def address_key(address: str) -> str:
    """The key a client address is counted under: an IPv6 address by its /64 network (a home or a
    server is given a whole /64, so rotating addresses inside it must not reset the count), any
    other address as it is."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if ip.version == 6 and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(getattr(ip, "ipv4_mapped", None) or ip)
