"""The Terraform files the portal writes for vendors: rendered from validated grant values only.

Shapes follow SUBSTRATE.md section 5 (S1, S2 and S5), with three deliberate choices:

* every file starts with a header naming the vendor and strategy, which is how the portal
  later recognizes its own files (and refuses to overwrite anyone else's);
* inline permission policies live in `policies/<vendor>.policy.json` (written with
  `json.dumps`) and are read with `file()`, so no JSON is ever embedded in HCL;
* resources in `modules/<domain>/global` are gated on the account's environment and quality,
  because that module runs in *every* account of the domain, including ones created later.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence

from . import hcl, names
from .hcl import Attr, Blank, Block, Obj
from .model import Grant

MAX_SESSION_DURATION = "43200"  # Substrate's own roles use 12 hours (SUBSTRATE.md section 3)
_HEADER = re.compile(r'# Vendor access for "([a-z0-9-]+)" \(([a-z_]+)\)')
_SAFE_RELATIVE = re.compile(r"(?:\.\./)*[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*", re.ASCII)

PLUMBING_HEADER = (
    "Vendor access portal: the aws.admin provider for IAM-user vendor grants in this domain."
)
PLUMBING_HEADER_2 = "Managed by the vendor access portal; removed with the domain's last one."


def vendor_header(grant: Grant) -> list[str]:
    """The two comment lines that mark a file as the portal's, for this vendor and strategy."""
    first = f'Vendor access for "{grant.vendor}" ({grant.strategy})'
    if grant.request_id:
        first += f", request {grant.request_id}"
    return [
        first + ".",
        "Managed by the vendor access portal: revoking the grant deletes this file.",
    ]


def file_owner(text: str) -> tuple[str, str] | None:
    """(vendor, strategy) from a portal header on the first line, or None for other files."""
    match = _HEADER.match(text)
    return (match.group(1), match.group(2)) if match else None


def is_plumbing(text: str) -> bool:
    """True if `text` is an `admin-providers.tf` written by the portal."""
    return text.startswith(f"# {PLUMBING_HEADER}\n")


def _file_expr(module_dir: str, repo_path: str) -> str:
    relative = posixpath.relpath(repo_path, module_dir)
    if not _SAFE_RELATIVE.fullmatch(relative):
        raise ValueError(f"unexpected characters in {relative!r}")
    # Built from validated slugs and directory names only (checked just above).
    return f'file("${{path.module}}/{relative}")'


def _tags(grant: Grant) -> Attr:
    items = [("Vendor", hcl.quote(grant.vendor))]
    if grant.request_id:
        items.append(("VendorAccessRequest", hcl.quote(grant.request_id)))
    return Attr("tags", Obj(items))


def _trust_document(
    label: str, identifiers: Sequence[str], external_id: str | None, count: str | None
) -> Block:
    statement: list[Attr | Block | Blank] = [
        Attr("actions", hcl.string_list(["sts:AssumeRole"])),
        Block(
            "principals",
            body=[Attr("type", hcl.quote("AWS")), Attr("identifiers", hcl.expr_list(identifiers))],
        ),
    ]
    if external_id is not None:
        statement.append(
            Block(
                "condition",
                body=[
                    Attr("test", hcl.quote("StringEquals")),
                    Attr("variable", hcl.quote("sts:ExternalId")),
                    Attr("values", hcl.string_list([external_id])),
                ],
            )
        )
    body: list[Attr | Block | Blank] = [Attr("count", count), Blank()] if count else []
    body.append(Block("statement", body=statement))
    return Block("data", ["aws_iam_policy_document", label], body)


def _role(grant: Grant, name: str, trust_ref: str, count: str | None) -> Block:
    body: list[Attr | Block | Blank] = [Attr("count", count), Blank()] if count else []
    body += [Attr("name", hcl.quote(name)), Attr("assume_role_policy", hcl.ref(trust_ref))]
    if grant.description:
        body.append(Attr("description", hcl.quote(grant.description)))
    body += [Attr("max_session_duration", MAX_SESSION_DURATION), _tags(grant)]
    return Block("resource", ["aws_iam_role", grant.vendor], body)


def _permissions(grant: Grant, module_dir: str, role: str, selected: str | None) -> list[Block]:
    """Managed-policy attachments and the inline policy of the vendor role."""
    blocks: list[Block] = []
    if grant.managed_policy_arns:
        arns = f"toset({hcl.string_list(grant.managed_policy_arns)})"
        for_each = f"{selected} ? {arns} : toset([])" if selected else arns
        blocks.append(
            Block(
                "resource",
                ["aws_iam_role_policy_attachment", grant.vendor],
                [
                    Attr("for_each", for_each),
                    Blank(),
                    Attr("policy_arn", hcl.ref("each.value")),
                    Attr("role", hcl.ref(f"{role}.name")),
                ],
            )
        )
    if grant.inline_policy is not None:
        body: list[Attr | Block | Blank] = (
            [Attr("count", f"{selected} ? 1 : 0"), Blank()] if selected else []
        )
        body += [
            Attr("name", hcl.quote(grant.vendor)),
            Attr("policy", _file_expr(module_dir, inline_policy_path(grant))),
            Attr("role", hcl.ref(f"{role}.id")),
        ]
        blocks.append(Block("resource", ["aws_iam_role_policy", grant.vendor], body))
    return blocks


def inline_policy_path(grant: Grant) -> str:
    """Where the grant's inline permission policy is stored in the repository."""
    return f"policies/{grant.vendor}.policy.json"


def account_role_file(
    grant: Grant,
    module_dir: str,
    identifiers: Sequence[str],
    external_id: str | None,
) -> str:
    """S1 (and S2 spokes): the vendor role in one account's root module."""
    vendor = grant.vendor
    trust = f"{vendor}-trust"
    blocks = [
        _trust_document(trust, identifiers, external_id, None),
        _role(grant, grant.role_name, f"data.aws_iam_policy_document.{trust}.json", None),
        *_permissions(grant, module_dir, f"aws_iam_role.{vendor}", None),
    ]
    return hcl.render_file(vendor_header(grant), blocks)


def _assume_roles_policy(kind: str, label: str, owner: str, roles: Sequence[str]) -> list[Block]:
    """An inline policy allowing `sts:AssumeRole` on `roles`, for the `kind` ("role" or
    "user") that the traversal `owner` names."""
    return [
        Block(
            "data",
            ["aws_iam_policy_document", label],
            [
                Block(
                    "statement",
                    body=[
                        Attr("actions", hcl.string_list(["sts:AssumeRole"])),
                        Attr("resources", hcl.string_list(roles)),
                    ],
                )
            ],
        ),
        Block(
            "resource",
            [f"aws_iam_{kind}_policy", label],
            [
                Attr("name", hcl.quote(label)),
                Attr("policy", hcl.ref(f"data.aws_iam_policy_document.{label}.json")),
                Attr(kind, hcl.ref(owner)),
            ],
        ),
    ]


def hub_role_file(grant: Grant, spoke_arns: Sequence[str]) -> str:
    """S2: the hub role in the Substrate account, allowed to assume exactly the spoke roles.

    Nothing in hand-written Terraform gives the hub `sts:AssumeRole` (role create would), so
    the hub gets an inline policy naming the spoke role ARNs (SUBSTRATE.md, "Settled since").
    """
    vendor = grant.vendor
    trust = f"{vendor}-trust"
    quoted = [hcl.quote(p) for p in grant.principals]
    blocks = [
        _trust_document(trust, quoted, grant.external_id, None),
        _role(grant, grant.hub_role_name, f"data.aws_iam_policy_document.{trust}.json", None),
        *_assume_roles_policy(
            "role", names.hub_policy_name(vendor), f"aws_iam_role.{vendor}.id", spoke_arns
        ),
    ]
    return hcl.render_file(vendor_header(grant), blocks)


def iam_user_file(grant: Grant, role_arn_pattern: str) -> str:
    """S5 step 1: the vendor's IAM user in the Substrate account, allowed to assume its role.

    `force_destroy` lets revocation delete the user even though the portal gave it an access
    key outside Terraform; keeping a revoked vendor's key alive is the worse failure.
    """
    vendor = grant.vendor
    user = Block(
        "resource",
        ["aws_iam_user", vendor],
        [Attr("name", hcl.quote(vendor)), Attr("force_destroy", "true"), _tags(grant)],
    )
    return hcl.render_file(
        vendor_header(grant),
        [
            user,
            *_assume_roles_policy(
                "user", vendor, f"aws_iam_user.{vendor}.name", [role_arn_pattern]
            ),
        ],
    )


def domain_module_file(grant: Grant, module_dir: str, pairs: Sequence[str]) -> str:
    """S5 steps 5-7: the role trusting the vendor's IAM user, in `modules/<domain>/global`.

    `pairs` are the selected "environment/quality" values; everywhere else in the domain the
    resources have count 0.
    """
    vendor = grant.vendor
    selected = f"local.{vendor}-selected"
    trust = f"{vendor}-trust"
    count = f"{selected} ? 1 : 0"
    account = '"${module.substrate.tags.environment}/${module.substrate.tags.quality}"'
    blocks = [
        Block(
            "locals",
            body=[Attr(f"{vendor}-selected", f"contains({hcl.string_list(pairs)}, {account})")],
        ),
        Block(
            "data",
            ["aws_iam_user", vendor],
            [
                Attr("count", count),
                Blank(),
                Attr("provider", hcl.ref("aws.admin")),
                Attr("user_name", hcl.quote(vendor)),
            ],
        ),
        _trust_document(trust, [hcl.ref(f"data.aws_iam_user.{vendor}[0].arn")], None, count),
        _role(grant, grant.role_name, f"data.aws_iam_policy_document.{trust}[0].json", count),
        *_permissions(grant, module_dir, f"aws_iam_role.{vendor}[0]", selected),
    ]
    return hcl.render_file(vendor_header(grant), blocks)


def admin_provider_file(substrate_account_id: str, region: str) -> str:
    """S5 step 2: `admin-providers.tf` in a root module, modelled on Substrate's providers.tf."""
    role_arn = f"arn:aws:iam::{substrate_account_id}:role/Administrator"
    return hcl.render_file(
        [PLUMBING_HEADER, PLUMBING_HEADER_2],
        [
            Block(
                "provider",
                ["aws"],
                [
                    Attr("alias", hcl.quote("admin")),
                    Block(
                        "assume_role",
                        body=[
                            Attr("role_arn", hcl.quote(role_arn)),
                            Attr("session_name", hcl.quote("Terraform")),
                        ],
                    ),
                    Block("default_tags", body=[Attr("tags", Obj([("Manager", '"Terraform"')]))]),
                    Attr("region", hcl.quote(region)),
                ],
            )
        ],
    )


def admin_proxy_file() -> str:
    """S5 step 4 fallback: a proxy provider block, for modules without configuration_aliases."""
    return hcl.render_file(
        [PLUMBING_HEADER, PLUMBING_HEADER_2],
        [Block("provider", ["aws"], [Attr("alias", hcl.quote("admin"))])],
    )
