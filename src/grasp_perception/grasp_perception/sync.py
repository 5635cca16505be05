"""Approximate-time matching of several streams (colour, depth, camera_info), with no ROS imports.

The perception node uses ``message_filters.ApproximateTimeSynchronizer`` where that package exists and
this class otherwise; both call back with one message per stream whose stamps lie within ``slop``.
This one is simpler than message_filters' algorithm: each new message is matched with the nearest
message of every other stream, and a match consumes those messages and everything older.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable


class ApproximateTimeSync:
    def __init__(self, n_streams: int, callback: Callable[..., Any], queue_size: int = 10, slop_s: float = 0.05):
        if n_streams < 1 or queue_size < 1 or not slop_s >= 0:
            raise ValueError(f"ApproximateTimeSync: need n_streams >= 1, queue_size >= 1, slop_s >= 0; got "
                             f"{n_streams}, {queue_size}, {slop_s}")
        self.callback = callback
        self.slop_ns = int(slop_s * 1e9)
        self._queues: list[deque] = [deque(maxlen=queue_size) for _ in range(n_streams)]
        self._lock = threading.Lock()

    def add(self, stream: int, stamp_ns: int, msg: Any) -> bool:
        """Queue ``msg`` of ``stream``; call back (and return True) if it completes a matching set."""
        with self._lock:
            self._queues[stream].append((stamp_ns, msg))
            match = []
            for i, q in enumerate(self._queues):
                if i == stream:
                    match.append((stamp_ns, msg))
                    continue
                if not q:
                    return False
                best = min(q, key=lambda item: abs(item[0] - stamp_ns))
                if abs(best[0] - stamp_ns) > self.slop_ns:
                    return False
                match.append(best)
            for q, (t, _) in zip(self._queues, match):
                kept = [item for item in q if item[0] > t]  # consume the match and anything older
                q.clear()
                q.extend(kept)
        self.callback(*(m for _, m in match))
        return True
