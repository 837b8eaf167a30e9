"""The managers: this one (``/api/manager``) and all of them (``/api/managers``)."""
from __future__ import annotations

from flask import Blueprint, jsonify

from orchestrator.api import controller, responses, to_json, usecases
from orchestrator.api.openapi import doc

bp = Blueprint("managers", __name__)


@bp.get("/manager")
@doc(summary="This manager: its name and whether it holds the virtual IP", answer="This manager.",
     returns=responses.Manager, errors=(401,))
def me():
    return jsonify(to_json(usecases().managers.me()))


@bp.get("/managers")
@doc(summary="Every manager, the leader and its epoch, who holds the virtual IP, the etcd members",
     answer="The control plane.", returns=responses.Managers, errors=(401, 503))
def overview():
    return jsonify(to_json(usecases().managers.overview()))


@bp.get("/manager/backends")
@doc(summary="The app backends of this manager's HAProxy as last sampled: what came in through it (the "
             "leader adds every manager's up)", answer="This manager's counters.", returns=responses.ManagerBackends,
     errors=(401,))
def backends():
    running = controller()
    local = running.sampler.local_backends() if running is not None else {}
    return jsonify({"manager": usecases().managers.name,
                    "backends": {name: {"stot": b.stot, "req_tot": b.req_tot, "scur": b.scur, "qcur": b.qcur,
                                        "up": list(b.up), "worker": b.worker}
                                 for name, b in sorted(local.items())}})
