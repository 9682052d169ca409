"""S3 buckets: private, encrypted, emptied before they are deleted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventlab.run import Run

MAX_NAME = 63


@dataclass(frozen=True)
class Bucket:
    name: str
    arn: str


def create_bucket(run: Run, base: str) -> Bucket:
    """Create a bucket with public access blocked and SSE-S3 on; deletion empties it first."""
    name = run.name(base.lower().replace("_", "-"), max_length=MAX_NAME)
    client = run.target.client("s3")
    kwargs: dict = {"Bucket": name}
    if run.target.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": run.target.region}
    client.create_bucket(**kwargs)
    run.track("s3:bucket", name, f"arn:aws:s3:::{name}", lambda: empty_and_delete_bucket(client, name))
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


def list_objects(run: Run, bucket: Bucket, prefix: str = "") -> list[str]:
    """All object keys under a prefix."""
    paginator = run.target.client("s3").get_paginator("list_objects_v2")
    return [
        obj["Key"]
        for page in paginator.paginate(Bucket=bucket.name, Prefix=prefix)
        for obj in page.get("Contents", [])
    ]


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
