"""`pio test` runner for the QEMU environment (test_framework = custom): the one shipped
with ml4f.  The test firmware prints `FILE:LINE:NAME:PASS|FAIL[:MESSAGE]` per case, then
`TESTS DONE <cases> <failures>`."""
from platformio_plugin.test_runner import CustomTestRunner  # noqa: F401
