"""The controllers: loops that observe, ask the core what to do, and act.

``reconciler`` keeps one pod host in line with the desired state (one loop
per host, so a slow or dead host delays nobody else), ``router`` keeps
haproxy.cfg in line with the apps and watches HAProxy's health checks, and
``supervisor`` starts them all and wakes them on every change in etcd or on
the hosts.
"""
