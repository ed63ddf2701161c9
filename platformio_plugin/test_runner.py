"""A `pio test` runner for firmware that prints its results (test_framework = custom).

PlatformIO would fetch Unity from its registry for `pio test` -- and for every
`pio run` once test/ holds tests -- unless the project names a custom framework
and has a test/test_custom_runner.py.  That file can be one line:

    from platformio_plugin.test_runner import CustomTestRunner  # noqa: F401

(ml4f must be importable by PlatformIO's Python: the first `pio run` of an
environment with models installs it.)  The firmware prints one line per case,
`FILE:LINE:NAME:PASS|FAIL|IGNORE[:MESSAGE]`, then `TESTS DONE ...`; a
firmware built for QEMU exits with its status (see test_testing_command in
examples/arduino-gesture/platformio.ini).
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
