"""The JSON API under /api/v1: cohorts, applications, workspaces, trials, jobs, fine-tunes, scorecards,
reviews, reports, bundles and insights, for people with a personal token. Errors use the same JSON shape
as the gateway (see app.py)."""

from fastapi import APIRouter, Depends

from finsandbox.api import finetunes, jobs, programme, reports, reviews, scorecards, trials, workspaces
from finsandbox.api.deps import checked_json

router = APIRouter(prefix="/api/v1", dependencies=[Depends(checked_json)])
router.include_router(scorecards.router)
router.include_router(reviews.router)
router.include_router(reports.router)
router.include_router(programme.router)
router.include_router(workspaces.router)
router.include_router(trials.router)
router.include_router(jobs.router)
router.include_router(finetunes.router)

__all__ = ["router"]
