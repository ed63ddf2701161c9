"""`pio test` runner for the QEMU environment (test_framework = custom).

The test firmware prints one line per case, `FILE:LINE:NAME:PASS|FAIL[:MESSAGE]`,
then `TESTS DONE <cases> <failures>`, and exits 0 (a crash exits 99).
"""
import re

from platformio.public import TestCase, TestCaseSource, TestRunnerBase, TestStatus

CASE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<name>[^:]+):(?P<status>PASS|FAIL|IGNORE)"
                  r"(?::(?P<message>.*))?$")


class CustomTestRunner(TestRunnerBase):
    def on_testing_line_output(self, line):
        if self.options.verbose:
            print(line, end="")
        text = line.strip()
        match = CASE.match(text)
        if match:
            self.test_suite.add_case(TestCase(
                name=match["name"],
                status=TestStatus.from_string(match["status"]),
                message=match["message"],
                source=TestCaseSource(match["file"], int(match["line"])),
            ))
        elif text.startswith("TESTS DONE"):
            self.test_suite.on_finish()
