"""Seeds the 23 default checklist items of SOC2.md section 2 (editable afterwards in the admin)."""

from django.db import migrations

CH, HI, ME, LO = "critical", "high", "medium", "low"

# (code, section, question, help, evidence required, blocking for tiers)
ITEMS = [
    (
        "A1",
        "A",
        "The vendor is inventoried with its service, internal owner, data categories and access type.",
        "SOC 2 CC9.2 asks for a complete vendor inventory.",
        False,
        [CH, HI, ME, LO],
    ),
    (
        "A2",
        "A",
        "Is this a key vendor (stores or accesses customer data, manages infrastructure or source code, affects the security or availability of our system, or its outage materially affects our service)?",
        "Answer yes for key vendors; their reviews get the strictest blocking rules.",
        False,
        [],
    ),
    (
        "A3",
        "A",
        "The inherent risk tier follows the rubric (data sensitivity, access level, criticality), or an override is justified.",
        "The portal computes the tier; security may override it with a reason.",
        False,
        [CH, HI],
    ),
    (
        "A4",
        "A",
        "Data shared is recorded: classification, data subjects, storage and processing regions, transfer mechanism.",
        "",
        False,
        [CH, HI],
    ),
    (
        "B5",
        "B",
        "The attestation is a SOC 2 Type II report (a Type I only with a documented exception and a re-review date).",
        "Upload the report.",
        True,
        [CH, HI],
    ),
    (
        "B6",
        "B",
        "The report's scope covers the service we buy, not only the vendor's hosting provider.",
        "Read the system description in section III.",
        False,
        [CH, HI],
    ),
    (
        "B7",
        "B",
        "The Trust Services Categories we need are included (Security always; Availability, Confidentiality, Privacy as our use needs).",
        "",
        False,
        [CH],
    ),
    (
        "B8",
        "B",
        "The period is at least 6 months and ended no more than 12 months ago.",
        "Record the period start, end and the report's issue date.",
        False,
        [CH, HI],
    ),
    (
        "B9",
        "B",
        "The service auditor is an independent, licensed, peer-reviewed CPA firm.",
        "",
        False,
        [CH],
    ),
    (
        "B10",
        "B",
        "The opinion is unqualified (a qualified or adverse opinion, or a disclaimer, is escalated).",
        "",
        False,
        [CH, HI],
    ),
    (
        "B11",
        "B",
        "Section IV exceptions were read; each relevant exception is recorded with the vendor's response and our disposition.",
        "Add each exception below.",
        False,
        [CH, HI],
    ),
    (
        "B12",
        "B",
        "A bridge letter covers the gap when today is more than 3 months past the period end.",
        "A management representation naming the report, period, material changes and incidents, signed by an officer. Upload it.",
        True,
        [CH],
    ),
    (
        "B13",
        "B",
        "Every CUEC is mapped to our control and an owner, or marked not applicable with a reason.",
        "Add each CUEC below.",
        False,
        [CH],
    ),
    (
        "B14",
        "B",
        "Subservice organizations are listed with carve-out or inclusive method; for carved-out critical ones, their controls are noted and their reports obtained.",
        "Add each subservice organization below.",
        False,
        [CH],
    ),
    (
        "B15",
        "B",
        "Without a SOC 2 report: alternative evidence (ISO 27001 certificate and statement of applicability, penetration test summary, questionnaire) with a compensating-control note.",
        "Answer n/a when a SOC 2 report was provided.",
        False,
        [CH, HI],
    ),
    (
        "C16",
        "C",
        "A DPA is signed (GDPR Art. 28 terms), including subprocessor authorisation and a change-notice period.",
        "Upload the signed DPA.",
        True,
        [CH, HI],
    ),
    (
        "C17",
        "C",
        "Security terms are in the contract: required standards, breach-notification timeline, right to audit, data return or deletion at exit.",
        "",
        False,
        [CH, HI],
    ),
    (
        "C18",
        "C",
        "The vendor's own subprocessors (fourth parties) are disclosed and acceptable.",
        "",
        False,
        [CH],
    ),
    (
        "D19",
        "D",
        "The access strategy is a cross-account role with an external id; an IAM access key is an exception with a written reason why the vendor cannot assume a role.",
        "",
        False,
        [CH, HI, ME],
    ),
    (
        "D20",
        "D",
        "Permissions are least-privilege, lint-clean, limited to the listed accounts, and the grant has an expiry.",
        "",
        False,
        [CH, HI, ME],
    ),
    (
        "E21",
        "E",
        "The residual risk is assessed and the decision is made by a reviewer who is not the requester.",
        "The portal enforces that the decider is not the submitter.",
        False,
        [CH, HI, ME, LO],
    ),
    (
        "E22",
        "E",
        "The next review date follows the tier; a re-review is triggered by a vendor incident, a scope change or a new SOC report.",
        "The portal sets the date from the tier at decision time.",
        False,
        [],
    ),
    (
        "E23",
        "E",
        "Offboarding is planned: access revoked, keys deleted, data return or deletion attested.",
        "",
        False,
        [CH, HI],
    ),
]


def seed(apps, schema_editor):
    ChecklistItem = apps.get_model("vendors", "ChecklistItem")
    for order, (code, section, text, help_text, evidence, blocking) in enumerate(ITEMS, start=1):
        ChecklistItem.objects.update_or_create(
            code=code,
            defaults={
                "section": section,
                "order": order,
                "text": text,
                "help_text": help_text,
                "evidence_required": evidence,
                "blocking_tiers": blocking,
                "active": True,
            },
        )


def unseed(apps, schema_editor):
    apps.get_model("vendors", "ChecklistItem").objects.filter(
        code__in=[item[0] for item in ITEMS]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("vendors", "0001_vendors_and_reviews")]

    operations = [migrations.RunPython(seed, unseed)]
