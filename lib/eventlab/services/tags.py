"""Resource tags as SQS, SNS and Lambda take them: the rules their tagging quotas state, in one place."""

from __future__ import annotations

import re
from collections.abc import Mapping

from eventlab.run import TAG_PROJECT, TAG_RUN

KEY_MAX_CHARS = 128
VALUE_MAX_CHARS = 256
# Unicode letters, digits and whitespace, and _ . : / = + - @ (the SQS and SNS tag rules).
PATTERN = r"[\w\s.:/=+\-@]*"
RESERVED_PREFIX = "aws:"
# Every resource of a run carries these; a declared tag may not set them.
RUN_TAGS = (TAG_RUN, TAG_PROJECT)


def tag_problems(tags: Mapping[str, str], *, max_tags: int) -> list[str]:
    """Why a service would refuse these tags, or eventlab would overwrite them (empty if neither)."""
    problems = []
    room = max_tags - len(RUN_TAGS)
    if len(tags) > room:
        problems.append(f"{len(tags)} tags; at most {room} (AWS allows {max_tags}, eventlab adds {len(RUN_TAGS)})")
    for key, value in tags.items():
        if not 1 <= len(key) <= KEY_MAX_CHARS:
            problems.append(f"tag key {key!r} is {len(key)} characters; AWS allows 1 to {KEY_MAX_CHARS}")
        if len(value) > VALUE_MAX_CHARS:
            problems.append(f"tag {key!r}: its value is {len(value)} characters; AWS allows {VALUE_MAX_CHARS}")
        for text in (key, value):
            if not re.fullmatch(PATTERN, text):
                problems.append(f"tag {key!r}: {text!r} may hold only letters, digits, spaces and _ . : / = + - @")
                break
        if key.lower().startswith(RESERVED_PREFIX):
            problems.append(f"tag key {key!r}: the prefix {RESERVED_PREFIX!r} is reserved for AWS")
        if key in RUN_TAGS:
            problems.append(f"tag key {key!r} is set by eventlab for every run; use another key")
    return problems
