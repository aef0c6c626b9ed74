"""Lift tests (experiments) people record, and their use as likelihood terms of a brand's fit.

- `core.lift_tests.schema`: the one input schema (form, CSV, API), friendly parsing, plain refusals;
- `core.lift_tests.service`: list, add, delete, with permission, scope and audit on every call;
- `core.lift_tests.csv_import`: many tests from a CSV, all or none, an error per row and column;
- `core.lift_tests.for_fit`: `experiments_for`, the tests on the fitted series' period indices;
- `core.lift_tests.truth`: the demo's true incremental outcomes and the sample file.
"""

from core.lift_tests.csv_import import LiftTestReport, import_lift_tests
from core.lift_tests.for_fit import experiments_for
from core.lift_tests.schema import LiftTestInput
from core.lift_tests.service import (
    READ,
    WRITE,
    Audit,
    LiftTestConflict,
    LiftTestError,
    add_lift_test,
    delete_lift_test,
    form_options,
    list_lift_tests,
    readable,
    sees_organization,
)

__all__ = ["READ", "WRITE", "Audit", "LiftTestConflict", "LiftTestError", "LiftTestInput", "LiftTestReport",
           "add_lift_test", "delete_lift_test", "experiments_for", "form_options", "import_lift_tests",
           "list_lift_tests", "readable", "sees_organization"]
