"""The request form and the change-set generator agree: whatever the form accepts (and a
draft can be submitted with) generates, so a request is never approved and then refused at
fulfilment. Property-based, through the form and the services the request page uses, against
fixture repositories of both dialects.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from approvals import requests as services
from approvals.forms import AccessRequestForm
from approvals.iam import COMMON_MANAGED_POLICIES
from approvals.models import Strategy
from provisioning.substrate import names
from tests.fixtures.substrate_repo import FixtureRepo, build_repo, register_accounts, serve_locally
from tests.vendors.helpers import vendor_data
from vendors import services as vendor_services

pytestmark = pytest.mark.django_db

EXAMPLES = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def mostly(valid: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`valid` four times in five, so that most examples reach the generator."""
    return st.integers(0, 4).flatmap(lambda n: other if n == 4 else valid)


ACCOUNT_IDS = st.from_regex(r"[0-9]{12}", fullmatch=True)
IAM_NAMES = st.from_regex(r"[A-Za-z0-9_+=,.@-]{1,64}", fullmatch=True)
PRINCIPAL = mostly(
    st.one_of(
        ACCOUNT_IDS,
        ACCOUNT_IDS.map(lambda n: f"arn:aws:iam::{n}:root"),
        st.tuples(ACCOUNT_IDS, st.sampled_from(["role", "user", "role/path"]), IAM_NAMES).map(
            lambda t: f"arn:aws:iam::{t[0]}:{t[1]}/{t[2]}"
        ),
    ),
    st.one_of(
        st.tuples(st.sampled_from(["aws-us-gov", "aws-cn"]), ACCOUNT_IDS).map(
            lambda t: f"arn:{t[0]}:iam::{t[1]}:role/Vendor"
        ),
        st.sampled_from(["arn:aws-cn:iam::123456789012:root", "12345678901", "*"]),
        st.text(max_size=20),
    ),
)
ROLE_NAMES = mostly(
    st.one_of(st.just(""), IAM_NAMES),
    st.one_of(
        st.sampled_from(sorted(names.RESERVED_ROLE_NAMES | {"Administrator", "Auditor"})),
        st.integers(55, 66).map(lambda n: "R" * n),
        st.text(max_size=70),
    ),
)
EXTERNAL_IDS = mostly(
    st.one_of(st.just(""), st.from_regex(r"[A-Za-z0-9_+=,.@:/-]{2,64}", fullmatch=True)),
    st.text(max_size=8),
)
MANAGED = st.lists(st.sampled_from([arn for arn, _ in COMMON_MANAGED_POLICIES]), max_size=4)
OTHER_ARNS = st.one_of(
    st.lists(
        mostly(
            IAM_NAMES.map(lambda n: f"arn:aws:iam::123456789012:policy/{n}"),
            st.sampled_from(
                [
                    "arn:aws-us-gov:iam::aws:policy/ReadOnlyAccess",
                    "arn:aws-cn:iam::123456789012:policy/Mine",
                    "arn:aws:iam::aws:policy//Odd",
                    "arn:aws:iam::aws:policy/service-role/AWSConfigRole",
                ]
            ),
        ),
        max_size=3,
    ),
    # Around IAM's limit of 20 managed policies per role.
    st.integers(17, 22).map(lambda n: [f"arn:aws:iam::123456789012:policy/P{i}" for i in range(n)]),
).map("\n".join)
STATEMENT = '{"Effect": "Allow", "Action": "s3:GetObject", "Resource": RES}'
INLINE = st.one_of(
    st.sampled_from(
        [
            '{"Version": "2012-10-17", "Statement": [' + STATEMENT + "]}",
            '{"Version": "2012-10-17", "Statement": ' + STATEMENT + "}",  # a lone object
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", '
            '"Resource": "*", "Condition": {"NumericLessThan": {"s3:max-keys": NaN}}}]}',
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", '
            '"Action": "s3:GetObject", "Resource": "*"}]}',
        ]
    ),
    # Large: past the inline limit from about 250 resources.
    st.integers(1, 400).map(
        lambda n: (
            '{"Version": "2012-10-17", "Statement": ['
            + STATEMENT.replace(
                "RES", "[" + ", ".join(f'"arn:aws:s3:::bucket-{i:05d}/*"' for i in range(n)) + "]"
            )
            + "]}"
        )
    ),
).map(lambda text: text.replace("RES", '"*"'))


@pytest.fixture(params=["2023.02", "2024.08"])
def substrate(request: pytest.FixtureRequest, tmp_path: Path, settings: Any) -> FixtureRepo:
    """A fixture repository of each dialect, its accounts in the inventory, as a local forge."""
    repo = build_repo(tmp_path / "substrate", version=request.param)
    register_accounts(repo)
    serve_locally(repo, tmp_path, settings)
    return repo


@pytest.fixture
def requester(make_user):
    return make_user("erin")


@pytest.fixture
def vendor(requester):
    return vendor_services.vendor_create(actor=requester, data=vendor_data(requester))


def _choices(substrate: FixtureRepo, attr: str) -> st.SearchStrategy[list[str]]:
    values = sorted({getattr(a, attr) for a in substrate.services()})
    # "*" (All) half the time, so that most selections match accounts; nothing ticked is
    # refused by the form (tests/approvals/test_requests.py), not worth an example here.
    return st.one_of(st.just(["*"]), st.lists(st.sampled_from(values), min_size=1, max_size=3))


@given(data=st.data())
@EXAMPLES
def test_every_request_the_form_accepts_generates(substrate, requester, vendor, data):
    post = {
        "vendor": str(vendor.pk),
        "strategy": data.draw(st.sampled_from(Strategy.values), "strategy"),
        "principals": data.draw(
            st.lists(PRINCIPAL, min_size=1, max_size=3).map("\n".join), "principals"
        ),
        "external_id": data.draw(EXTERNAL_IDS, "external_id"),
        "domains": data.draw(_choices(substrate, "domain"), "domains"),
        "environments": data.draw(_choices(substrate, "environment"), "environments"),
        "qualities": data.draw(_choices(substrate, "quality"), "qualities"),
        "role_name": data.draw(ROLE_NAMES, "role_name"),
        "policy_source": data.draw(st.sampled_from(["managed", "inline"]), "policy_source"),
        "managed_policy_arns": data.draw(MANAGED, "managed_policy_arns"),
        "other_policy_arns": data.draw(OTHER_ARNS, "other_policy_arns"),
        "inline_policy": data.draw(INLINE, "inline_policy"),
        "justification": "Scans our configuration.",
        "expires_on": (timezone.localdate() + timedelta(days=30)).isoformat(),
    }
    form = AccessRequestForm(data=post)
    if not form.is_valid():
        event("refused by the form's fields")
        return
    try:
        access_request = services.request_save(actor=requester, data=form.cleaned_data)
    except ValidationError as error:
        event(f"refused: {sorted(error.message_dict)}")
        return
    if services.submission_problems(access_request):
        event(f"saved, but cannot be submitted: {post['strategy']}")
        return
    event(f"accepted: {post['strategy']}")
    preview = access_request.preview or {}
    assert "error" not in preview, (post, preview)
    assert preview["files"]
