"""The access request form: parses input; `approvals.requests` applies the rules."""

from __future__ import annotations

import json
import re
from typing import Any, cast

from django import forms
from django.contrib.auth.models import Group
from django.utils.translation import gettext_lazy as _

from approvals import requests as request_services
from approvals.iam import COMMON_MANAGED_POLICIES
from approvals.models import STRATEGY_HELP, AccessRequest, Strategy
from approvals.rules import NOT_APPROVER_GROUPS
from inventory.models import AwsAccount
from vendors.forms import show_text_limits
from vendors.models import Tier, Vendor
from vendors.selectors import ReviewState, with_review_state

ALL = [("*", _("All"))]
LEVELS = [
    ("read", _("Read")),
    ("list", _("List")),
    ("write", _("Write")),
    ("tagging", _("Tagging")),
    ("permissions-management", _("Permissions management")),
]


def _distinct(field: str) -> list[tuple[str, str]]:
    values = (
        AwsAccount.objects.filter(
            status=AwsAccount.Status.ACTIVE, account_type=AwsAccount.Type.SERVICE
        )
        .exclude(**{field: ""})
        .values_list(field, flat=True)
        .distinct()
        .order_by(field)
    )
    return [(v, v) for v in values]


class AccessRequestForm(forms.Form):
    """Every field of every strategy; the page shows only those the chosen strategy uses."""

    vendor = forms.ModelChoiceField(queryset=Vendor.objects.none(), label=_("Vendor"))
    strategy = forms.ChoiceField(
        choices=Strategy.choices, widget=forms.RadioSelect, label=_("How the vendor gets in")
    )
    principals = forms.CharField(
        label=_("Vendor's AWS principals"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text=_(
            "12-digit account ids (an arn:aws:iam::ID:root counts as the id) or IAM role/user "
            "ARNs of the aws partition, one per line. Every refused line is named."
        ),
    )
    external_id = forms.CharField(
        label=_("External id"),
        required=False,
        max_length=1224,
        help_text=_(
            "Leave empty to generate a long random one, or paste the vendor's "
            "(2 to 1,224 characters)."
        ),
    )
    # Required only by the strategies that pick accounts, which `approvals.requests` checks:
    # nothing ticked is refused, never read as every account.
    domains = forms.MultipleChoiceField(
        label=_("Domains"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Tick All, or only the domains the vendor needs (not both)."),
    )
    environments = forms.MultipleChoiceField(
        label=_("Environments"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Tick All, or only some environments (not both)."),
    )
    qualities = forms.MultipleChoiceField(
        label=_("Qualities"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Tick All, or only some qualities (not both)."),
    )
    # The label says what the name is for, as each strategy uses it: the IAM-user strategy's
    # user is named after the vendor's slug; this names the role that user assumes.
    role_name = forms.CharField(
        label=_("Name of the role created in each target account"),
        required=False,
        max_length=64,
        help_text=_("At most 64 characters. Leave empty for a name from the vendor's slug."),
    )
    policy_source = forms.ChoiceField(
        label=_("Permissions"),
        choices=AccessRequest.PolicySource.choices,
        required=False,
        widget=forms.RadioSelect,
        initial=AccessRequest.PolicySource.MANAGED,
    )
    managed_policy_arns = forms.MultipleChoiceField(
        label=_("AWS managed policies"),
        required=False,
        choices=COMMON_MANAGED_POLICIES,
        widget=forms.CheckboxSelectMultiple,
    )
    other_policy_arns = forms.CharField(
        label=_("Other managed policy ARNs"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
    )
    inline_policy = forms.CharField(
        label=_("Policy document (JSON)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false", "class": "code"}),
    )
    generator_service = forms.CharField(
        label=_("AWS service (IAM prefix)"),
        required=False,
        max_length=40,
        help_text=_("For example s3, logs (at most 40 characters)."),
    )
    generator_levels = forms.MultipleChoiceField(
        label=_("Access levels"),
        required=False,
        choices=LEVELS,
        widget=forms.CheckboxSelectMultiple,
    )
    generator_resources = forms.CharField(
        label=_("Resource ARNs"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
        help_text=_("One per line; empty means the service's actions that take no resource."),
    )
    justification = forms.CharField(
        label=_("Why the vendor needs this"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=4000,
        help_text=_("At most 4,000 characters."),
    )
    expires_on = forms.DateField(
        label=_("Access ends on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )

    # Which strategy fields each input belongs to (the page hides the unused ones).
    GROUPS = {
        "principals": ("principals", "external_id"),
        "accounts": ("domains", "environments", "qualities"),
        "role_name": ("role_name",),
        "permissions": (
            "policy_source",
            "managed_policy_arns",
            "other_policy_arns",
            "inline_policy",
            "generator_service",
            "generator_levels",
            "generator_resources",
        ),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Each vendor with its review state: a request for a vendor without a current approved
        # review can be filed, but it is blocked for approval until the review is done.
        vendor_field = cast(forms.ModelChoiceField, self.fields["vendor"])
        vendor_field.queryset = with_review_state(
            Vendor.objects.filter(status=Vendor.Status.ACTIVE)
        ).order_by("name")
        vendor_field.label_from_instance = lambda v: (  # type: ignore[method-assign,assignment]
            f"{v.name} (review: {ReviewState.LABELS[v.review_state]})"
        )
        for name, column in (
            ("domains", "domain"),
            ("environments", "environment"),
            ("qualities", "quality"),
        ):
            self.fields[name].choices = ALL + _distinct(column)  # type: ignore[attr-defined]
        # No maxlength attribute: the browser would cut a pasted text short without a word.
        # The limit is in the help text and the server says when a text is over it.
        for field in self.fields.values():
            field.widget.attrs.pop("maxlength", None)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        others = [a for a in re.split(r"[\s,]+", data.get("other_policy_arns") or "") if a]
        data["managed_policy_arns"] = [*data.get("managed_policy_arns", []), *others]
        # What the services would refuse, shown now with the form's own errors: every problem
        # at once, not one round per problem. A field that already has an error keeps only it
        # (its value did not reach `data`, the services saw a default instead).
        if data.get("vendor") is not None and data.get("strategy"):
            for field, messages in request_services.draft_problems(data).items():
                name = field if field in self.fields else None
                if name is None or name not in self.errors:
                    self.add_error(name, messages)
        return data

    def strategy_options(self) -> list[tuple[Any, str]]:
        """Each strategy's radio button with its plain-words explanation."""
        return [(radio, str(STRATEGY_HELP[radio.data["value"]])) for radio in self["strategy"]]

    @property
    def groups(self) -> dict[str, list[forms.BoundField]]:
        """The bound fields of each strategy group, for the template."""
        return {name: [self[field] for field in fields] for name, fields in self.GROUPS.items()}

    @classmethod
    def initial_from(cls, access_request: AccessRequest) -> dict[str, Any]:
        """The form's values for an existing request (editing a draft)."""
        common = {arn for arn, _label in COMMON_MANAGED_POLICIES}
        generator = access_request.generator_input or {}
        return {
            "vendor": access_request.vendor_id,
            "strategy": access_request.strategy,
            "principals": "\n".join(access_request.principals),
            "external_id": access_request.external_id,
            "domains": access_request.target_domains,
            "environments": access_request.target_environments,
            "qualities": access_request.target_qualities,
            "role_name": access_request.role_name,
            "policy_source": access_request.policy_source or AccessRequest.PolicySource.MANAGED,
            "managed_policy_arns": [a for a in access_request.managed_policy_arns if a in common],
            "other_policy_arns": "\n".join(
                a for a in access_request.managed_policy_arns if a not in common
            ),
            "inline_policy": ""
            if access_request.inline_policy is None
            or access_request.policy_source != AccessRequest.PolicySource.INLINE
            else json.dumps(access_request.inline_policy, indent=2),
            "generator_service": generator.get("service", ""),
            "generator_levels": generator.get("access_levels", []),
            "generator_resources": "\n".join(generator.get("resource_arns", [])),
            "justification": access_request.justification,
            "expires_on": access_request.expires_on,
        }


# --- The approval rules (approvals/rules.py) ----------------------------------------------------


def _approver_group_choices() -> list[tuple[str, Any]]:
    """Every group but the roles that cannot approve (auditors, requesters)."""
    names = Group.objects.exclude(name__in=NOT_APPROVER_GROUPS).values_list("name", flat=True)
    # A blank first choice, so that the empty extra rule of the formset is left unchanged.
    return [("", _("Choose a group")), *((n, n) for n in sorted(names))]


class RuleForm(forms.Form):
    """One rule of a proposed rule set; `approvals.rules.rules_from_json` checks the whole."""

    name = forms.CharField(label=_("Name"), max_length=80)
    approver_group = forms.ChoiceField(label=_("Approver group"))
    quorum = forms.IntegerField(
        label=_("Approvals"),
        min_value=1,
        max_value=5,
        required=False,
        help_text=_("Empty: as many as the request's risk asks."),
    )
    domains = forms.MultipleChoiceField(
        label=_("Domains"), required=False, widget=forms.CheckboxSelectMultiple
    )
    environments = forms.MultipleChoiceField(
        label=_("Environments"), required=False, widget=forms.CheckboxSelectMultiple
    )
    qualities = forms.MultipleChoiceField(
        label=_("Qualities"), required=False, widget=forms.CheckboxSelectMultiple
    )
    strategies = forms.MultipleChoiceField(
        label=_("Strategies"),
        required=False,
        choices=Strategy.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    vendor_tiers = forms.MultipleChoiceField(
        label=_("Vendor tiers"),
        required=False,
        choices=[(t.value, t.label) for t in Tier],
        widget=forms.CheckboxSelectMultiple,
    )
    risk_levels = forms.MultipleChoiceField(
        label=_("Risk"),
        required=False,
        choices=AccessRequest.Risk.choices,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args: Any, choices: dict[str, list[tuple[str, Any]]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        for field, values in choices.items():
            current = self.initial.get(field) or []
            known = {v for v, _label in values}
            # A value the inventory no longer has stays choosable: a rule naming it is kept.
            extra = [
                (v, v) for v in (current if isinstance(current, list) else []) if v not in known
            ]
            cast(forms.ChoiceField, self.fields[field]).choices = [*values, *extra]
        show_text_limits(self)


class RuleChangeForm(forms.Form):
    reason = forms.CharField(
        label=_("Why change the rules"), widget=forms.Textarea(attrs={"rows": 2}), max_length=2000
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        show_text_limits(self)


class BaseRuleFormSet(forms.BaseFormSet):
    def rules(self) -> list[dict[str, Any]]:
        """The rules kept (not deleted, not left blank), as `approvals.rules` reads them."""
        kept = []
        for form in self.forms:
            data = form.cleaned_data
            if not data or data.get("DELETE"):
                continue
            kept.append({key: value for key, value in data.items() if key != "DELETE"})
        return kept


RuleFormSet = forms.formset_factory(
    RuleForm, formset=BaseRuleFormSet, extra=1, can_delete=True, max_num=50, validate_max=True
)


def rule_form_choices() -> dict[str, list[tuple[str, Any]]]:
    """The choices of a rule's fields read from the inventory and the groups (a few queries,
    once per page, not once per rule)."""
    return {
        "approver_group": _approver_group_choices(),
        "domains": _distinct("domain"),
        "environments": _distinct("environment"),
        "qualities": _distinct("quality"),
    }


class RequestFilterForm(forms.Form):
    """Security's and auditors' list of every request: search and filters (GET). The vendor is
    chosen by name from the vendors that have requests (one query for the list's choices)."""

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Any status")), *AccessRequest.Status.choices],
    )
    strategy = forms.ChoiceField(
        label=_("Strategy"), required=False, choices=[("", _("Any strategy")), *Strategy.choices]
    )
    vendor = forms.TypedChoiceField(label=_("Vendor"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, vendors: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        vendor_field: Any = self.fields["vendor"]
        vendor_field.choices = [("", _("Any vendor")), *vendors]
