"""simplecloud's orchestrator: desired state in etcd, reconciled onto pod hosts.

See docs/orchestrator.md for the module map and the contracts between modules.
"""

__version__ = "0.1.0"
