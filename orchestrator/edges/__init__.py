"""The edges: one driver per outside component, and nothing else.

``store`` (etcd), ``haproxy`` (Runtime API and reloads), ``docker_host``
(worker containers through the Docker API) and ``hostlink`` (the supervised
SSH link to a pod host that carries those Docker calls). Drivers observe and
act when told to; they never decide. Deciding is ``orchestrator.core``'s job.
"""
