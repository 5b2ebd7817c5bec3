"""programme lifecycle: applications, their named team, rubric assessments

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "applications",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("cohort_id", sa.String(length=32), nullable=False),
        sa.Column("bank_id", sa.String(length=32), nullable=False),
        sa.Column("tech_partner_id", sa.String(length=32), nullable=True),
        sa.Column("submitted_by", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("theme", sa.String(length=40), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("approach", sa.String(length=20), nullable=False),
        sa.Column("data_used", sa.Text(), nullable=False),
        sa.Column("expected_benefit", sa.Text(), nullable=False),
        sa.Column("risk_materiality", sa.String(length=10), nullable=False),
        sa.Column("risk_notes", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("decision_reasons", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=32), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("forced_reason", sa.Text(), nullable=True),
        sa.Column("workspace_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cohort_id"], ["cohorts.id"], name=op.f("fk_applications_cohort_id_cohorts")
        ),
        sa.ForeignKeyConstraint(
            ["bank_id"], ["institutions.id"], name=op.f("fk_applications_bank_id_institutions")
        ),
        sa.ForeignKeyConstraint(
            ["tech_partner_id"],
            ["institutions.id"],
            name=op.f("fk_applications_tech_partner_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by"], ["users.id"], name=op.f("fk_applications_submitted_by_users")
        ),
        sa.ForeignKeyConstraint(["decided_by"], ["users.id"], name=op.f("fk_applications_decided_by_users")),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_applications_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
        sa.UniqueConstraint("workspace_id", name=op.f("uq_applications_workspace_id")),
    )
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_applications_cohort_id"), ["cohort_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_applications_bank_id"), ["bank_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_applications_tech_partner_id"), ["tech_partner_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_applications_status"), ["status"], unique=False)

    op.create_table(
        "application_members",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("application_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_application_members_application_id_applications"),
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_application_members_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_members")),
        sa.UniqueConstraint("application_id", "user_id", name=op.f("uq_application_members_application_id")),
    )
    with op.batch_alter_table("application_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_application_members_application_id"), ["application_id"], unique=False
        )

    op.create_table(
        "assessments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("application_id", sa.String(length=32), nullable=False),
        sa.Column("assessor_id", sa.String(length=32), nullable=False),
        sa.Column("rubric", sa.String(length=100), nullable=False),
        sa.Column("rubric_digest", sa.String(length=64), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("weighted", sa.Float(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"], ["applications.id"], name=op.f("fk_assessments_application_id_applications")
        ),
        sa.ForeignKeyConstraint(["assessor_id"], ["users.id"], name=op.f("fk_assessments_assessor_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessments")),
        sa.UniqueConstraint("application_id", "assessor_id", name=op.f("uq_assessments_application_id")),
    )
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assessments_application_id"), ["application_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assessments_application_id"))
    op.drop_table("assessments")

    with op.batch_alter_table("application_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_application_members_application_id"))
    op.drop_table("application_members")

    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_applications_status"))
        batch_op.drop_index(batch_op.f("ix_applications_tech_partner_id"))
        batch_op.drop_index(batch_op.f("ix_applications_bank_id"))
        batch_op.drop_index(batch_op.f("ix_applications_cohort_id"))
    op.drop_table("applications")
