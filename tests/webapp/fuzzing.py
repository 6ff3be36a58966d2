"""The schemathesis harness the fuzz tests share: every generated case of each operation sent
once per role, failures collected (an exception escaping the app, or a failed check) so one run
reports them all."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable


def fuzz_operations(
    operations: Iterable[Any],
    roles: Sequence[str],
    headers: Callable[[str], dict[str, str]],
    checks: list[Any],
    examples: int,
) -> list[str]:
    """The failures found, one line each (empty when every answer passed ``checks``)."""
    failures: list[str] = []

    def fuzzer(operation: Any) -> Callable[[], None]:
        label = f"{operation.method.upper()} {operation.path}"

        @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck), print_blob=False)
        @given(case=operation.as_strategy())
        def fuzz(case: Any) -> None:
            for role in roles:
                try:
                    response = case.call(headers=headers(role))
                except Exception as exc:  # noqa: BLE001 - an exception escaping the app
                    failures.append(f"{label} as {role}: {case.method} {case.formatted_path} "
                                    f"raised {type(exc).__name__}: {exc}")
                    return
                try:
                    case.validate_response(response, checks=checks)
                except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collect all
                    failures.append(f"{label} as {role}: {case.method} {case.formatted_path} "
                                    f"→ {response.status_code}: {str(exc)[:300]}")
                    return

        return fuzz

    for operation in operations:
        try:
            fuzzer(operation)()
        except Unsatisfiable:  # an operation whose inputs schemathesis cannot generate
            continue
    return failures
