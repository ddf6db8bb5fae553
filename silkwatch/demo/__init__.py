"""The offline demo: sample feeds bundled with silkwatch, a loopback server for them, and a config.

Nothing here touches the network beyond 127.0.0.1 or imports anything heavy; the
``silkwatch demo`` command (silkwatch/cli/ops.py) wires these pieces to the real flows.
"""

from silkwatch.demo.server import DEMO_FEEDS, DemoFeed, DemoFeedServer, render_feed
from silkwatch.demo.workspace import DemoDirError, create_demo_dir

__all__ = [
    "DEMO_FEEDS",
    "DemoDirError",
    "DemoFeed",
    "DemoFeedServer",
    "create_demo_dir",
    "render_feed",
]
