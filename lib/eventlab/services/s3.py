"""S3 buckets: private, encrypted, emptied before they are deleted."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from eventlab.run import Run, resource_kind
from eventlab.target import Target

# What a declared bucket's base name may be (the run prefix is added; the whole name must then
# pass bucket_name_problems).
BASE_NAME_PATTERN = r"[a-z0-9][a-z0-9-]*"
# General purpose bucket naming rules (S3 user guide, "General purpose bucket naming rules").
MIN_NAME = 3
MAX_NAME = 63
RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def bucket_name_problems(name: str) -> list[str]:
    """Why S3 would refuse ``name`` for a general purpose bucket (empty if it would not)."""
    problems = []
    if not MIN_NAME <= len(name) <= MAX_NAME:
        problems.append(f"is {len(name)} characters; S3 allows {MIN_NAME} to {MAX_NAME}")
    if not re.fullmatch(r"[a-z0-9.-]*", name):
        problems.append("may hold only lowercase letters, digits, '.' and '-'")
    if not re.fullmatch(r"[a-z0-9](.*[a-z0-9])?", name, flags=re.DOTALL):
        problems.append("must begin and end with a lowercase letter or digit")
    if ".." in name:
        problems.append("must not contain two adjacent periods")
    try:
        ipaddress.IPv4Address(name)
        problems.append("must not be formatted as an IP address")
    except ValueError:
        pass
    problems += [f"must not start with {p!r} (reserved by S3)" for p in RESERVED_PREFIXES if name.startswith(p)]
    problems += [f"must not end with {s!r} (reserved by S3)" for s in RESERVED_SUFFIXES if name.endswith(s)]
    return problems


@dataclass(frozen=True)
class Bucket:
    name: str
    arn: str


def create_bucket(run: Run, base: str) -> Bucket:
    """Create a bucket with public access blocked and SSE-S3 on; deletion empties it first."""
    name = run.name(base.lower().replace("_", "-"), max_length=MAX_NAME)
    if problems := bucket_name_problems(name):
        raise ValueError(f"bucket name {name!r} " + "; ".join(problems))
    client = run.target.client("s3")
    kwargs: dict = {"Bucket": name}
    if run.target.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": run.target.region}
    client.create_bucket(**kwargs)
    run.track(BUCKET, name, f"arn:aws:s3:::{name}", lambda: empty_and_delete_bucket(client, name))
    client.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    client.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    client.put_bucket_tagging(Bucket=name, Tagging={"TagSet": run.tag_list()})
    return Bucket(name=name, arn=f"arn:aws:s3:::{name}")


def list_objects(run: Run, bucket: Bucket | str, prefix: str = "") -> list[str]:
    """All object keys under a prefix."""
    paginator = run.target.client("s3").get_paginator("list_objects_v2")
    name = bucket if isinstance(bucket, str) else bucket.name
    return [obj["Key"] for page in paginator.paginate(Bucket=name, Prefix=prefix) for obj in page.get("Contents", [])]


def read_objects(run: Run, bucket: str, prefix: str = "") -> list[tuple[str, bytes]]:
    """Every object under a prefix, read: (key, body), by key."""
    client = run.target.client("s3")
    return [(key, client.get_object(Bucket=bucket, Key=key)["Body"].read()) for key in sorted(list_objects(run, bucket, prefix))]


def get_text(run: Run, bucket: str, key: str) -> str | None:
    """One object's body as text, or None when there is no such object."""
    try:
        reply = run.target.client("s3").get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    return str(reply["Body"].read().decode())


def empty_and_delete_bucket(client: Any, name: str) -> None:
    """Delete every object version and marker, then the bucket."""
    for page in client.get_paginator("list_object_versions").paginate(Bucket=name):
        doomed = [
            {"Key": o["Key"], "VersionId": o["VersionId"]}
            for o in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if doomed:
            client.delete_objects(Bucket=name, Delete={"Objects": doomed, "Quiet": True})
    client.delete_bucket(Bucket=name)


# -- what a run leaves behind ------------------------------------------------------------------
def _find_buckets(target: Target, prefix: str) -> Iterator[str]:
    for bucket in target.client("s3").list_buckets().get("Buckets", []):
        if bucket["Name"].startswith(prefix):
            yield bucket["Name"]


BUCKET = resource_kind("s3:bucket", _find_buckets, lambda t, name: empty_and_delete_bucket(t.client("s3"), name))
