"""cm4qemu: an offline development platform for Cortex-M4F firmware run in QEMU."""
from platformio.public import PlatformBase


class Cm4qemuPlatform(PlatformBase):
    """Nothing to download: the toolchain comes from PATH unless
    `platform_packages = toolchain-gccarmnoneeabi@symlink:///...` names one."""

    def is_embedded(self):
        # Not "embedded" for `pio test`: no upload stage; the native reader runs
        # `test_testing_command` (QEMU) and reads its output.
        return False
