"""Placeholder: this route module is being written."""

from __future__ import annotations

from fastapi import APIRouter

from seqlab.serve.state import ServiceState


def router(state: ServiceState) -> APIRouter:
    return APIRouter()
