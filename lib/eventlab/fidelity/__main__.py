"""``python -m eventlab.fidelity [-k TEXT] [--service NAME]``: run the conformance cases on the
target the environment names (the running embedded LocalStack by default, see
:meth:`eventlab.target.Target.from_env`), write ``build/fidelity/<backend>.json`` and the matrix
(``build/fidelity/matrix.json`` and ``.md``, with every backend's latest results), and exit 1
when any case fails its judgement."""

from __future__ import annotations

import argparse
import logging
import sys

from eventlab.fidelity import CASES, backend_of, run_cases, write_results
from eventlab.fidelity.matrix import write_from_results
from eventlab.target import Target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eventlab.fidelity", description=__doc__)
    parser.add_argument("-k", dest="text", default="", help="only the cases whose id contains TEXT")
    parser.add_argument("--service", default="", help="only the cases of one service (events, sns, sqs, firehose, kinesis, lambda)")
    parser.add_argument("--merge", action="store_true", help="keep the earlier results of the cases not run now")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cases = [c for c in CASES if args.text in c.id and (not args.service or c.service == args.service)]
    if not cases:
        parser.error(f"no case matches -k {args.text!r} --service {args.service!r}")
    target = Target.from_env()
    results = run_cases(target, cases)
    path = write_results(results, backend_of(target), target=target, merge=args.merge)
    _, written = write_from_results(CASES)
    for result in results:
        mark = "ok  " if result.ok else "FAIL"
        print(f"{mark} {result.outcome:<11} {result.case.id}: {result.observed}")
        if result.problem:
            print(f"     {result.problem}")
    failures = sum(not r.ok for r in results)
    print(f"{len(results)} case(s) on {backend_of(target)}, {failures} failing; results in {path}; matrix in {written[1]}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
