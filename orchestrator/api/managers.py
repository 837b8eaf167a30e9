"""The managers: this one (``/api/manager``) and all of them (``/api/managers``)."""
from __future__ import annotations

from flask import Blueprint, jsonify

from orchestrator.api import responses, to_json, usecases
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
