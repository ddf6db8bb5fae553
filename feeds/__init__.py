"""Feeds: fetch (``feeds.fetch.Fetcher``), parse (``feeds.parse.parse_feed``), normalise,
politeness decisions (``feeds.decide``) and OPML import (``feeds.opml``).

No database and no Prefect here: the flow wires these together and stores the results.
Import the submodules directly; this package imports nothing so that importing one piece
does not pull in the others.
"""
