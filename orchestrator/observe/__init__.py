"""Observability: the manager's Prometheus metrics (``/metrics``).

``telemetry.Telemetry`` owns one ``prometheus_client`` registry per manager
and the instruments the control loops record into (reconcile passes,
actions, host-link changes, autoscale decisions); ``collectors`` reads the
rest at scrape time (nodes from etcd, bounded and failing soft; link states;
the sampler's per-app figures). This package imports no controller, API or
service: the loops are handed a ``Telemetry``, the web layer renders it.
"""
