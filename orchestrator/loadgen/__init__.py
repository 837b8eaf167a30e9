"""`cloud bench`: an open-loop load generator for the HAProxy edge.

Requests leave at Poisson arrival times whatever the answers do, and each
latency is counted from the request's *scheduled* send time (as wrk2 does),
so a slow server cannot hide behind "coordinated omission".

* ``schedule`` (pure): arrival times, outcome kinds, offered-vs-sent accounting;
* ``http1``: a small HTTP/1.1 keep-alive client on asyncio streams;
* ``generator``: one asyncio loop per worker process, the processes, progress;
* ``report`` (pure but for the files): percentiles, the summary, results.json, samples.csv;
* ``plots``: the PNGs (matplotlib, imported only when plotting);
* ``cluster``: what the bench asks the API (the app of a route, its serving nodes, its balance);
* ``balance``: ``--compare-balance``, the same load under each balance algorithm;
* ``command``: ``cloud bench`` itself, called by ``orchestrator.cli``.
"""
