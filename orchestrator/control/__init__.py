"""The controllers: loops that observe, ask the core what to do, and act.

``reconciler`` keeps one pod host in line with the desired state (one loop
per host, so a slow or dead host delays nobody else), ``haproxy_sync`` keeps
haproxy.cfg in line with the apps and watches HAProxy's health checks,
``sampler`` reads the figures the ``autoscaler`` decides from, ``waker``
holds the first request of an app at zero, and ``controller`` starts them
(built by server.py) and wakes them on every change in etcd or on the hosts.
"""
